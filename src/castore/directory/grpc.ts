// GrpcDirectoryService: a DirectoryService backed by a remote tvix DirectoryService; the peer's graph is checked.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import type { ClientStreamCall, GrpcConnection } from '../grpc/connection.js';
import { DIRECTORY_METHODS, type PutDirectoryResponse } from '../grpc/services.js';
import { isNotFound } from '../grpc/status.js';
import { ValidatingPutter } from './putter.js';
import type { DirectoryPutter, DirectoryService } from './service.js';

export class GrpcDirectoryService implements DirectoryService {
  constructor(private readonly connection: GrpcConnection) {}

  async get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null> {
    let found: Directory | null = null;
    try {
      for await (const directory of this.connection.serverStream(DIRECTORY_METHODS.get, { digest: digest.bytes }, opts)) {
        if (found || !directory.digest().equals(digest)) throw peerError(`answered Get ${digest.toHex()} with another directory`);
        found = directory;
      }
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return found;
  }

  /** One recursive Get; yields each Directory only once it is known to belong to the graph below `root`. */
  async *getRecursive(root: B3Digest, opts?: CallOptions): AsyncGenerator<Directory> {
    // Digest hex → the size the referring node promised; an entry is removed when that Directory arrives.
    const expected = new Map<string, number | null>([[root.toHex(), null]]);
    const received = new Set<string>();
    try {
      for await (const directory of this.connection.serverStream(DIRECTORY_METHODS.get, { digest: root.bytes, recursive: true }, opts)) {
        const hex = directory.digest().toHex();
        if (received.has(hex)) throw peerError(`sent directory ${hex} twice`);
        if (!expected.has(hex)) throw peerError(`sent directory ${hex}, which nothing sent before refers to`);
        const size = expected.get(hex);
        if (size !== null && size !== undefined && size !== directory.size) throw peerError(`sent directory ${hex} with the wrong size`);
        expected.delete(hex);
        received.add(hex);
        for (const { node } of directory.entries) {
          const child = node.kind === 'directory' ? node.digest.toHex() : null;
          if (child !== null && !received.has(child)) expected.set(child, node.kind === 'directory' ? node.size : null);
        }
        yield directory;
      }
    } catch (err) {
      if (isNotFound(err)) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `root directory ${root.toHex()} not found`);
      throw err;
    }
    const missing = expected.keys().next();
    if (!missing.done) throw peerError(`ended the graph of ${root.toHex()} without directory ${missing.value}`);
  }

  /** Checked here first (leaves-first, sizes), then streamed to the peer, which checks again. */
  putter(opts?: CallOptions): DirectoryPutter {
    let call: ClientStreamCall<Directory, PutDirectoryResponse> | undefined;
    const open = () => {
      call ??= this.connection.clientStream(DIRECTORY_METHODS.put, opts);
      return call;
    };
    const inner = new ValidatingPutter(
      {
        storedSize: async (digest) => (await this.get(digest, opts))?.size ?? null,
        write: async (batch) => {
          const stream = open();
          for (const { directory } of batch) await stream.write(directory);
        },
      },
      opts,
    );
    return {
      put: async (directory) => {
        try {
          await inner.put(directory);
        } catch (err) {
          call?.cancel(); // the caller gives up on this putter: the peer must not keep a half graph open
          throw err;
        }
      },
      close: async () => {
        const root = await inner.close();
        const answer = await open().finish();
        const peerRoot = parsePeerDigest(answer.rootDigest);
        if (!peerRoot.equals(root)) throw peerError(`answered Put with root ${peerRoot.toHex()}, expected ${root.toHex()}`);
        return root;
      },
    };
  }
}

function parsePeerDigest(bytes: Uint8Array | null | undefined): B3Digest {
  try {
    return B3Digest.parse(bytes ?? new Uint8Array(0));
  } catch (err) {
    throw new NarBridgeError('NB_ERR_UPSTREAM', 'DirectoryService peer answered with a bad digest', { cause: err });
  }
}

function peerError(what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `DirectoryService peer ${what}`);
}
