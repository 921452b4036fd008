// Cache-Control on every read: NAR URLs name their bytes (immutable), narinfos may gain signatures or go (a minute),
// misses and errors are never stored; with private reads, shared caches keep nothing.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import { encodeNixBase32 } from '../../src/nix/index.js';
import { TESTDATA } from '../store/golden.js';
import { servedMemoryStore } from '../store/memory-store.js';

const STORE_PATH = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432';
const HASH_PART = '00bgd045z0d4icpbc2yyz4gx48ak44la';
const TOKEN = 'r-0123456789abcdef';
const IMMUTABLE = 'max-age=31536000, immutable';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A server holding one path, uploaded uncompressed; returns its base URL, the upload URL and our castore URL. */
async function serveOnePath(privateReads: boolean) {
  app = await buildServer({ store: servedMemoryStore(), priority: 40, access: { tokens: AccessTokens.parse(`write ${TOKEN}\n`), privateReads } });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const headers = { authorization: `Bearer ${TOKEN}` };
  const nar = await readFile(join(TESTDATA, 'complicated.nar'));
  const narHash = encodeNixBase32(createHash('sha256').update(nar).digest());
  const uploadUrl = `nar/${narHash}.nar`;
  expect((await fetch(`${base}/${uploadUrl}`, { method: 'PUT', body: new Uint8Array(nar), headers })).status).toBe(204);
  const text = `StorePath: ${STORE_PATH}\nURL: ${uploadUrl}\nCompression: none\nNarHash: sha256:${narHash}\nNarSize: ${nar.byteLength}\nReferences: \n`;
  expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: text, headers })).status).toBe(204);
  const served = await (await fetch(`${base}/${HASH_PART}.narinfo`, { headers })).text();
  const castoreUrl = /^URL: (.*)$/m.exec(served)?.[1] ?? '';
  expect(castoreUrl).toMatch(/^nar\/tvix-castore\//);
  return { base, headers, uploadUrl, castoreUrl };
}

async function cacheControl(url: string, init: RequestInit = {}): Promise<[number, string | null]> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return [res.status, res.headers.get('cache-control')];
}

describe('Cache-Control', () => {
  it('marks NARs immutable, narinfos short-lived, and misses and errors not to be stored', async () => {
    const { base, uploadUrl, castoreUrl } = await serveOnePath(false);
    for (const method of ['GET', 'HEAD']) {
      expect(await cacheControl(`${base}/${castoreUrl}`, { method }), method).toEqual([200, `public, ${IMMUTABLE}`]);
      expect(await cacheControl(`${base}/${uploadUrl}`, { method }), method).toEqual([200, `public, ${IMMUTABLE}`]);
      expect(await cacheControl(`${base}/${HASH_PART}.narinfo`, { method }), method).toEqual([200, 'public, max-age=60']);
      expect(await cacheControl(`${base}/${'1'.repeat(32)}.narinfo`, { method }), method).toEqual([404, 'no-store']);
      expect(await cacheControl(`${base}/nar/${'1'.repeat(52)}.nar.xz`, { method }), method).toEqual([404, 'no-store']);
    }
    expect(await cacheControl(`${base}/${castoreUrl}`, { headers: { range: 'bytes=0-9' } })).toEqual([206, `public, ${IMMUTABLE}`]);
    expect(await cacheControl(`${base}/${castoreUrl}`, { headers: { range: 'bytes=99999999-' } })).toEqual([416, 'no-store']);
    expect(await cacheControl(`${base}/nar/tvix-castore/AAAA`)).toEqual([400, 'no-store']);
    expect(await cacheControl(`${base}/no/such/thing`)).toEqual([404, 'no-store']);
  });

  it('lets only the client keep answers when reads need a token', async () => {
    const { base, headers, uploadUrl, castoreUrl } = await serveOnePath(true);
    expect(await cacheControl(`${base}/${castoreUrl}`, { headers })).toEqual([200, `private, ${IMMUTABLE}`]);
    expect(await cacheControl(`${base}/${uploadUrl}`, { headers })).toEqual([200, `private, ${IMMUTABLE}`]);
    expect(await cacheControl(`${base}/${HASH_PART}.narinfo`, { headers })).toEqual([200, 'private, max-age=60']);
    expect(await cacheControl(`${base}/${HASH_PART}.narinfo`)).toEqual([401, 'no-store']);
  });
});
