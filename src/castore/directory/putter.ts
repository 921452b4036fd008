// The putter every local backend shares: checks the leaves-first rule, then hands batches to the backend.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import { encodeDirectory } from '../wire.js';
import type { DirectoryPutter } from './service.js';

/** What a backend offers the putter. */
export interface PutterBackend {
  /** The size of a stored Directory, or null if absent. */
  storedSize(digest: B3Digest): Promise<number | null>;
  /** Stores a batch (each item with its canonical bytes) atomically and durably. */
  write(batch: readonly PendingDirectory[]): Promise<void>;
}

export interface PendingDirectory {
  readonly digest: B3Digest;
  readonly directory: Directory;
  readonly bytes: Uint8Array;
}

/**
 * Encoded bytes buffered before a batch is written. Writing early is safe: leaves come first, so a written
 * batch never refers to anything unwritten, and the store holds only closed subgraphs.
 */
export const PUTTER_BATCH_BYTES = 8 * 1024 * 1024;

export class ValidatingPutter implements DirectoryPutter {
  /** Sizes of everything put so far, by digest hex, for the child checks. */
  readonly #sizes = new Map<string, number>();
  #batch: PendingDirectory[] = [];
  #batchBytes = 0;
  #last: B3Digest | undefined;
  #closed = false;

  constructor(
    private readonly backend: PutterBackend,
    private readonly opts: CallOptions = {},
  ) {}

  async put(directory: Directory): Promise<void> {
    if (this.#closed) throw new Error('DirectoryPutter.put after close');
    this.opts.signal?.throwIfAborted();
    for (const { name, node } of directory.entries) {
      if (node.kind !== 'directory') continue;
      const size = this.#sizes.get(node.digest.toHex()) ?? (await this.backend.storedSize(node.digest));
      if (size === null) {
        throw new NarBridgeError('NB_ERR_GRAPH_INCOMPLETE', `child ${JSON.stringify(name.toString())} refers to unknown directory ${node.digest.toHex()}`);
      }
      if (size !== node.size) {
        throw new NarBridgeError('NB_ERR_GRAPH_INCOMPLETE', `child ${JSON.stringify(name.toString())} has size ${node.size}, its directory ${size}`);
      }
    }
    const digest = directory.digest();
    this.#last = digest;
    if (this.#sizes.has(digest.toHex())) return;
    this.#sizes.set(digest.toHex(), directory.size);
    const bytes = encodeDirectory(directory);
    this.#batch.push({ digest, directory, bytes });
    this.#batchBytes += bytes.length;
    if (this.#batchBytes >= PUTTER_BATCH_BYTES) await this.#flush();
  }

  async close(): Promise<B3Digest> {
    if (this.#closed) throw new Error('DirectoryPutter closed twice');
    this.#closed = true;
    if (!this.#last) throw new NarBridgeError('NB_ERR_GRAPH_INCOMPLETE', 'no directories were put');
    this.opts.signal?.throwIfAborted();
    await this.#flush();
    return this.#last;
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    if (batch.length > 0) await this.backend.write(batch);
  }
}
