// GET|HEAD /nar/<filehash>.nar[.ext]: the URL a client cached when it pushed (nix-http-protocol.md §7) serves the
// NAR again, in the container that URL names, once a narinfo has claimed the upload.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/index.js';
import { encodeNixBase32 } from '../../src/nix/index.js';
import { nar as narBytes, str } from '../nar/nar-bytes.js';
import { TESTDATA } from '../store/golden.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { rawRequest } from './raw-request.js';
import { childrenNamed } from '../store/child-processes.js';

const STORE_PATH = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432';
const HASH_PART = '00bgd045z0d4icpbc2yyz4gx48ak44la';
const MAX_BUFFER = 64 * 1024 * 1024;
const tool =
  (...command: [string, ...string[]]) =>
  (input: Buffer) =>
    execFileSync(command[0], command.slice(1), { input, maxBuffer: MAX_BUFFER });

/** compression=… as Nix uploads it: how to make the file, its URL extension, how to read it back. */
const COMPRESSIONS = [
  { name: 'none', ext: '', compress: (b: Buffer) => b, decompress: (b: Buffer) => b },
  { name: 'gzip', ext: '', compress: (b: Buffer) => gzipSync(b), decompress: (b: Buffer) => gunzipSync(b) },
  { name: 'xz', ext: '.xz', compress: tool('xz', '-c'), decompress: tool('xz', '-d', '-c') },
  { name: 'zstd', ext: '.zst', compress: tool('zstd', '-c', '-q'), decompress: tool('zstd', '-d', '-c', '-q') },
  { name: 'bzip2', ext: '.bz2', compress: tool('bzip2', '-c'), decompress: tool('bzip2', '-d', '-c') },
  { name: 'br', ext: '.br', compress: (b: Buffer) => brotliCompressSync(b), decompress: (b: Buffer) => brotliDecompressSync(b) },
] as const;

let app: FastifyInstance;
let base: string;

beforeEach(async () => {
  app = await buildServer({ store: servedMemoryStore(), priority: 40 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await app.close();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

const raw = (url: string, method: 'GET' | 'HEAD' = 'GET') => rawRequest(url, { method });

/** PUTs `file` as nar/<sha256(file)>.nar<ext>, as `nix copy --to` does; returns that URL (relative). */
async function putNar(file: Buffer, ext: string): Promise<string> {
  const url = `nar/${encodeNixBase32(sha256(file))}.nar${ext}`;
  const res = await fetch(`${base}/${url}`, { method: 'PUT', body: new Uint8Array(file) });
  expect(res.status).toBe(204);
  return url;
}

async function putNarInfo(nar: Buffer, url: string, compression: string, status = 204): Promise<void> {
  const text = `StorePath: ${STORE_PATH}\nURL: ${url}\nCompression: ${compression}\nNarHash: sha256:${encodeNixBase32(sha256(nar))}\nNarSize: ${nar.byteLength}\nReferences: \n`;
  expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: text })).status).toBe(status);
}

describe.each(COMPRESSIONS)('pushed with compression=$name', ({ name, ext, compress, decompress }) => {
  it('is served at its upload URL once a narinfo claims it, decompressing to the NAR', async () => {
    const nar = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    const file = compress(nar);
    const url = await putNar(file, ext);
    // Only the NAR so far: HEAD still says "have it" (Nix then skips re-uploading), GET serves nothing unvouched.
    expect((await raw(`${base}/${url}`, 'HEAD')).status).toBe(200);
    expect((await raw(`${base}/${url}`)).status).toBe(404);

    await putNarInfo(nar, url, name);
    const res = await raw(`${base}/${url}`);
    expect(res.status).toBe(200);
    expect(decompress(res.body).equals(nar)).toBe(true);
    // Rendered and re-framed, not the uploaded file: only a raw NAR comes back byte for byte.
    expect(res.body.equals(file)).toBe(name === 'none');
    const head = await raw(`${base}/${url}`, 'HEAD');
    expect(head.status).toBe(200);
    if (name === 'bzip2') {
      expect(res.headers['content-length']).toBeUndefined();
    } else {
      // Stored modes cost about what a plain render costs: a few bytes of framing per 64 KiB.
      expect(res.headers['content-length']).toBe(String(res.body.byteLength));
      expect(head.headers['content-length']).toBe(String(res.body.byteLength));
      expect(res.body.byteLength).toBeLessThan(nar.byteLength * 1.001 + 64);
    }
  });
});

const bzip2Children = () => childrenNamed('bzip2');

it('kills the bzip2 compressing a download when the client leaves', async () => {
  // 8 MiB of incompressible bytes: bzip2 takes about a second, so the client is gone long before it is done.
  const nar = Buffer.from(narBytes('nix-archive-1', '(', 'type', 'regular', 'contents', str(randomBytes(8 * 1024 * 1024)), ')'));
  const url = await putNar(nar, '');
  await putNarInfo(nar, url, 'none');
  const aborted = new AbortController();
  const res = await fetch(`${base}/${url}.bz2`, { signal: aborted.signal });
  const reader = res.body?.getReader();
  expect((await reader?.read())?.done).toBe(false);
  expect(bzip2Children()).toHaveLength(1);
  aborted.abort();
  await expect.poll(bzip2Children, { timeout: 5000 }).toEqual([]);
});

describe('what is not served', () => {
  it('an upload a narinfo tried to claim for a path that holds other contents (refused: paths are immutable)', async () => {
    const first = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    const second = await readFile(join(TESTDATA, 'complicated.nar'));
    const firstUrl = await putNar(first, '');
    await putNarInfo(first, firstUrl, 'none');
    expect((await raw(`${base}/${firstUrl}`)).status).toBe(200);

    const secondUrl = await putNar(second, '');
    await putNarInfo(second, secondUrl, 'none', 403);
    expect((await raw(`${base}/${secondUrl}`)).status).toBe(404);
    expect((await raw(`${base}/${firstUrl}`)).body.equals(first)).toBe(true);
  });

  it('unknown file hashes, names that are not NAR files, and lzip/lz4 (never accepted)', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const url = await putNar(nar, '');
    await putNarInfo(nar, url, 'none');
    expect((await raw(`${base}/${url}`)).status).toBe(200);
    for (const other of [`nar/${'1'.repeat(52)}.nar.xz`, `${url}.lz4`, `${url}.lzip`, `nar/${'1'.repeat(51)}.nar`, 'nar/x.nar']) {
      const res = await raw(`${base}/${other}`);
      expect(res.status, other).toBe(404);
      expect(res.body.toString().trim().length, other).toBeGreaterThan(0);
    }
  });
});
