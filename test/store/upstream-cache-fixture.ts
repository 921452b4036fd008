// A Nix binary cache for upstream tests: signed narinfos and NAR files in memory, served by a real HTTP server
// on 127.0.0.1 that counts requests and can be made to hang.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants } from 'node:zlib';
import { NixHash, StorePath, encodeNixBase32, fingerprintPath, formatNarInfo, type NarInfo, type SigningKey } from '../../src/nix/index.js';

export interface StaticCache {
  readonly url: string;
  /** GET requests by URL path. */
  readonly requests: Map<string, number>;
  /** Paths whose requests are held open without an answer until the server closes. */
  readonly hang: Set<string>;
  /** Adds a path: NAR compressed as asked, narinfo signed by `key` (over `signedNar` when given, to lie). */
  add(basename: string, nar: Uint8Array, opts: AddOptions): StorePath;
  close(): Promise<void>;
}

export interface AddOptions {
  readonly key: SigningKey;
  readonly compression: 'none' | 'xz' | 'br';
  readonly references?: readonly StorePath[];
  /** Sign and advertise this NAR's hash and size instead of the one served. */
  readonly claimedNar?: Uint8Array;
}

const EXTENSIONS = { none: '', xz: '.xz', br: '.br' } as const;

function compress(nar: Uint8Array, compression: AddOptions['compression']): Uint8Array {
  if (compression === 'none') return nar;
  if (compression === 'br') return brotliCompressSync(nar, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }); // the default, 11, takes seconds
  return execFileSync('xz', ['--compress', '--stdout', '--check=crc64'], { input: nar });
}

export async function startStaticCache(): Promise<StaticCache> {
  const files = new Map<string, Uint8Array>([['/nix-cache-info', Buffer.from('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n')]]);
  const requests = new Map<string, number>();
  const hang = new Set<string>();
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (hang.has(path)) {
      held.push(res);
      return;
    }
    const body = files.get(path);
    res.writeHead(body ? 200 : 404, { 'content-length': body?.byteLength ?? 0 });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    hang,
    add(basename, nar, opts) {
      const storePath = StorePath.parseBasename(basename);
      const file = compress(nar, opts.compression);
      const fileHash = createHash('sha256').update(file).digest();
      const narUrl = `nar/${encodeNixBase32(fileHash)}.nar${EXTENSIONS[opts.compression]}`;
      const claimed = opts.claimedNar ?? nar;
      const narHash = NixHash.fromDigest('sha256', createHash('sha256').update(claimed).digest());
      const references = [...(opts.references ?? [])];
      const info: NarInfo = {
        storePath,
        url: narUrl,
        compression: opts.compression,
        fileHash: NixHash.fromDigest('sha256', fileHash),
        fileSize: file.byteLength,
        narHash,
        narSize: claimed.byteLength,
        references,
        sigs: [opts.key.sign(fingerprintPath(storePath, narHash, claimed.byteLength, references))],
      };
      files.set(`/${narUrl}`, file);
      files.set(`/${storePath.hashPart}.narinfo`, Buffer.from(formatNarInfo(info)));
      return storePath;
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
