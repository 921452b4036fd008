// The HTTP surface over a memory store, through a real listening server and fetch.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/index.js';
import { encodeNixBase32 } from '../../src/nix/index.js';
import { TESTDATA } from '../store/golden.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { rawRequest } from './raw-request.js';

const STORE_PATH = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432';
const HASH_PART = '00bgd045z0d4icpbc2yyz4gx48ak44la';

let app: FastifyInstance;
let base: string;

beforeEach(async () => {
  const store = servedMemoryStore();
  app = await buildServer({ store, priority: 40 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await app.close();
});

const fileHash = (bytes: Uint8Array) => encodeNixBase32(createHash('sha256').update(bytes).digest());

function narInfoText(nar: Buffer, url: string): string {
  const narHash = `sha256:${encodeNixBase32(createHash('sha256').update(nar).digest())}`;
  return `StorePath: ${STORE_PATH}\nURL: ${url}\nCompression: none\nNarHash: ${narHash}\nNarSize: ${nar.byteLength}\nReferences: \n`;
}

async function putNar(body: Buffer, name: string) {
  return fetch(`${base}/nar/${name}`, { method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': 'application/x-nix-nar' } });
}

const rawGet = (url: string, headers: Record<string, string>) => rawRequest(url, { headers });

function decode(coding: string, body: Buffer): Buffer {
  if (coding === 'gzip') return gunzipSync(body);
  if (coding === 'br') return brotliDecompressSync(body);
  return execFileSync('zstd', ['-d', '-c', '-q'], { input: body, maxBuffer: 64 * 1024 * 1024 });
}

describe('binary cache protocol', () => {
  it('serves nix-cache-info', async () => {
    const res = await fetch(`${base}/nix-cache-info`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n');
  });

  it.each([
    ['none', (b: Buffer) => b, ''],
    ['gzip (no extension, detected by content)', (b: Buffer) => gzipSync(b), ''],
    ['br', (b: Buffer) => brotliCompressSync(b), '.br'],
  ])('round-trips a NAR uploaded with compression %s', async (_name, compress, ext) => {
    const nar = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    const file = compress(nar);
    const name = `${fileHash(file)}.nar${ext}`;
    expect((await fetch(`${base}/nar/${name}`, { method: 'HEAD' })).status).toBe(404);
    expect((await putNar(file, name)).status).toBe(204);
    expect((await fetch(`${base}/nar/${name}`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`)).status).toBe(404);

    const put = await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(nar, `nar/${name}`) });
    expect(put.status).toBe(204);

    const served = await (await fetch(`${base}/${HASH_PART}.narinfo`)).text();
    const url = /^URL: (.*)$/m.exec(served)?.[1];
    expect(url).toMatch(/^nar\/tvix-castore\/[A-Za-z0-9_-]+\?narsize=464152$/);
    expect(served).toContain('Compression: none\n');
    expect(served).toContain('References: \n');

    // Raw, as Nix asks: no Accept-Encoding (fetch would send one and get an encoded NAR).
    const res = await rawGet(`${base}/${url}`, {});
    expect(res.headers['content-length']).toBe(String(nar.byteLength));
    expect(res.body.equals(nar)).toBe(true);
    const head = await fetch(`${base}/${url}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(nar.byteLength));
  });

  it('answers single byte ranges with 206, and unsatisfiable ones with 416', async () => {
    const nar = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    const name = `${fileHash(nar)}.nar`;
    expect((await putNar(nar, name)).status).toBe(204);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(nar, `nar/${name}`) })).status).toBe(204);
    const url = /^URL: (.*)$/m.exec(await (await fetch(`${base}/${HASH_PART}.narinfo`)).text())?.[1] ?? '';
    const size = nar.byteLength;
    for (const [header, start, end] of [
      ['bytes=0-99', 0, 99],
      [`bytes=${size - 100}-`, size - 100, size - 1],
      ['bytes=-10', size - 10, size - 1],
      [`bytes=1000-${size + 5000}`, 1000, size - 1],
    ] as const) {
      const res = await fetch(`${base}/${url}`, { headers: { range: header } });
      expect(res.status, header).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(nar.subarray(start, end + 1)), header).toBe(true);
    }
    const whole = await fetch(`${base}/${url}`, { headers: { range: 'bytes=0-1,5-6' } });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    await whole.arrayBuffer();
    const beyond = await fetch(`${base}/${url}`, { headers: { range: `bytes=${size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
  });

  it.each(['zstd', 'br', 'gzip'])('encodes a whole NAR with %s when the client asks, and never a range', async (coding) => {
    const nar = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    const name = `${fileHash(nar)}.nar`;
    expect((await putNar(nar, name)).status).toBe(204);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(nar, `nar/${name}`) })).status).toBe(204);
    const url = /^URL: (.*)$/m.exec(await (await fetch(`${base}/${HASH_PART}.narinfo`)).text())?.[1] ?? '';
    const encoded = await rawGet(`${base}/${url}`, { 'accept-encoding': `${coding}, identity;q=0.5` });
    expect(encoded.headers['content-encoding']).toBe(coding);
    expect(encoded.headers.vary).toBe('Accept-Encoding');
    expect(encoded.body.byteLength).toBeLessThan(nar.byteLength);
    expect(decode(coding, encoded.body).equals(nar)).toBe(true);
    const ranged = await rawGet(`${base}/${url}`, { 'accept-encoding': coding, range: 'bytes=0-99' });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-encoding']).toBeUndefined();
    expect(ranged.body.equals(nar.subarray(0, 100))).toBe(true);
    const plain = await rawGet(`${base}/${url}`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(nar)).toBe(true);
  });

  it('refuses a NAR whose bytes do not match the hash in its URL', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const name = `${fileHash(Buffer.from('something else'))}.nar`;
    const res = await putNar(nar, name);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/does not match/);
    expect((await fetch(`${base}/nar/${name}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('refuses malformed NARs with 400 and a reason', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const truncated = nar.subarray(0, 100);
    const res = await putNar(truncated, `${fileHash(truncated)}.nar`);
    expect(res.status).toBe(400);
    expect((await res.text()).length).toBeGreaterThan(5);
  });

  // Regression: garbage PUT as `.nar` was answered "invalid br data: Decompression failed" (anything unknown was
  // tried as brotli), which names neither the problem nor what was expected.
  it('refuses a body that is neither a NAR nor a known compression by naming what it expected', async () => {
    const garbage = Buffer.from('this is not a NAR, just some text that someone PUT by mistake\n');
    const res = await putNar(garbage, `${fileHash(garbage)}.nar`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/^not a NAR and not a known compression \(expected nix-archive-1, xz, zstd, bzip2, gzip/);
  });

  it('decodes brotli only under a .nar.br name, and names brotli as the failure there', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const br = brotliCompressSync(nar);
    expect((await putNar(br, `${fileHash(br)}.nar.br`)).status).toBe(204);
    expect(await (await putNar(br, `${fileHash(br)}.nar`)).text()).toMatch(/^not a NAR and not a known compression/);
    const garbage = Buffer.from('not brotli either, whatever the name says');
    expect(await (await putNar(garbage, `${fileHash(garbage)}.nar.br`)).text()).toMatch(/^invalid br data/);
  });

  it.each(['lz4', 'lzip', 'foo'])('refuses a .nar.%s upload by name, listing the suffixes it takes (404 to HEAD)', async (ext) => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const name = `${fileHash(nar)}.nar.${ext}`;
    expect((await fetch(`${base}/nar/${name}`, { method: 'HEAD' })).status).toBe(404);
    const res = await putNar(nar, name);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toMatch(new RegExp(`^${ext} compression is not supported`));
    expect(text).toContain('.nar, .nar.xz, .nar.zst, .nar.bz2, .nar.br');
  });

  it('refuses a narinfo for a NAR never uploaded, or for another store path', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const unknown = await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(nar, `nar/${fileHash(nar)}.nar`) });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toMatch(/not uploaded/);

    expect((await putNar(nar, `${fileHash(nar)}.nar`)).status).toBe(204);
    const wrongPath = await fetch(`${base}/11bgd045z0d4icpbc2yyz4gx48ak44la.narinfo`, {
      method: 'PUT',
      body: narInfoText(nar, `nar/${fileHash(nar)}.nar`),
    });
    expect(wrongPath.status).toBe(400);
    expect(await wrongPath.text()).toMatch(/does not match/);
    expect((await fetch(`${base}/11bgd045z0d4icpbc2yyz4gx48ak44la.narinfo`)).status).toBe(404);
  });

  it('refuses a narinfo whose NarHash disagrees with the uploaded NAR', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    expect((await putNar(nar, `${fileHash(nar)}.nar`)).status).toBe(204);
    const lie = narInfoText(nar, `nar/${fileHash(nar)}.nar`).replace(/NarSize: \d+/, 'NarSize: 841');
    const res = await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: lie });
    expect(res.status).toBe(400);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`)).status).toBe(404);
  });

  // Regression (issue 10): a second narinfo for a held path replaced its contents.
  it('keeps a stored path: another NarHash is refused with 403, the same one only adds its Sig', async () => {
    const first = await readFile(join(TESTDATA, 'complicated.nar'));
    const second = await readFile(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'));
    for (const nar of [first, second]) expect((await putNar(nar, `${fileHash(nar)}.nar`)).status).toBe(204);
    const text = narInfoText(first, `nar/${fileHash(first)}.nar`);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: text })).status).toBe(204);
    const before = await (await fetch(`${base}/${HASH_PART}.narinfo`)).text();

    const replaced = await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(second, `nar/${fileHash(second)}.nar`) });
    expect(replaced.status).toBe(403);
    expect(await replaced.text()).toMatch(/^\S+ is already stored with another NarHash or contents; store paths are immutable\n$/);
    expect(await (await fetch(`${base}/${HASH_PART}.narinfo`)).text()).toBe(before);

    const sigA = `a-1:${Buffer.alloc(64, 1).toString('base64')}`;
    const sigB = `b-1:${Buffer.alloc(64, 2).toString('base64')}`;
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: `${text}Sig: ${sigA}\n` })).status).toBe(204);
    // As `nix store sign` sends it: the served narinfo, castore URL and all, with one more Sig.
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: `${before}Sig: ${sigA}\nSig: ${sigB}\n` })).status).toBe(204);
    const after = await (await fetch(`${base}/${HASH_PART}.narinfo`)).text();
    expect(after.match(/^Sig: .*$/gm)).toEqual([`Sig: ${sigA}`, `Sig: ${sigB}`]);
    expect(after.replace(/^Sig: .*\n/gm, '')).toBe(before);
  });

  it('answers 404 for a castore NAR URL whose narsize lies or whose node is unknown', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    expect((await putNar(nar, `${fileHash(nar)}.nar`)).status).toBe(204);
    expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: narInfoText(nar, `nar/${fileHash(nar)}.nar`) })).status).toBe(204);
    const url = /^URL: (.*)$/m.exec(await (await fetch(`${base}/${HASH_PART}.narinfo`)).text())?.[1] ?? '';
    expect((await fetch(`${base}/${url.replace('narsize=840', 'narsize=841')}`)).status).toBe(404);
    expect((await fetch(`${base}/nar/tvix-castore/CiISIK8TSbn1-aGmoEBN6jbcyUmbyyXJrcESt8yak8rkHzJi`)).status).toBe(404);
    expect((await fetch(`${base}/nar/tvix-castore/not*base64`)).status).toBe(400);
  });
});
