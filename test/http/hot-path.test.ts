// The narinfo hot path (src/http/hot-path.ts) answers GET and HEAD of a narinfo as Nix asks for it (no Accept-Encoding)
// without Fastify, byte for byte as the Fastify route would, with its log line, metrics and access recording; whatever
// it does not handle reaches Fastify unchanged. The access log's reqId tells which path answered: the hot path names
// its requests `narinfo-…`, Fastify `req-…`.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer, HttpMetrics } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import { encodeNixBase32 } from '../../src/nix/index.js';
import { TESTDATA } from '../store/golden.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { type RawResponse, rawRequest } from './raw-request.js';

const STORE_PATH = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432';
const HASH_PART = '00bgd045z0d4icpbc2yyz4gx48ak44la';
const MISSING = '1'.repeat(32);
const TOKEN = 'w-0123456789abcdef';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

interface Served {
  readonly base: string;
  readonly log: Array<Record<string, unknown>>;
  readonly accessed: string[];
}

/** A server holding one path; its log lines and the digests it recorded as accessed are kept. */
async function serveOnePath({ privateReads = false, failLookups = false } = {}): Promise<Served> {
  const log: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) log.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const accessed: string[] = [];
  const store = servedMemoryStore();
  const { get } = store.pathInfos;
  let failing = false;
  store.pathInfos.get = (digest) => (failing ? Promise.reject(new Error('disk on fire')) : get.call(store.pathInfos, digest));
  app = await buildServer({
    store,
    priority: 40,
    logger: { level: 'info', stream },
    metrics: new HttpMetrics(new Registry(), async () => ({ blobs: 0, blobBytes: 0, directories: 0, pathInfos: 0, diskBytes: 0 })),
    access: { tokens: AccessTokens.parse(`write ${TOKEN}\n`), privateReads },
    onPathAccess: (digest) => accessed.push(Buffer.from(digest).toString('hex')),
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const headers = { authorization: `Bearer ${TOKEN}` };
  const nar = await readFile(join(TESTDATA, 'complicated.nar'));
  const narHash = encodeNixBase32(createHash('sha256').update(nar).digest());
  expect((await fetch(`${base}/nar/${narHash}.nar`, { method: 'PUT', body: new Uint8Array(nar), headers })).status).toBe(204);
  const text = `StorePath: ${STORE_PATH}\nURL: nar/${narHash}.nar\nCompression: none\nNarHash: sha256:${narHash}\nNarSize: ${nar.byteLength}\nReferences: \n`;
  expect((await fetch(`${base}/${HASH_PART}.narinfo`, { method: 'PUT', body: text, headers })).status).toBe(204);
  failing = failLookups;
  accessed.length = 0;
  log.length = 0;
  return { base, log, accessed };
}

/** The reqId of the access log line of the request to `url` (with its query), once written. */
async function answeredBy(served: Served, url: string, nth = 0): Promise<string> {
  const lines = () => served.log.filter((l) => l.msg === 'request completed' && l.url === url);
  await expect.poll(() => lines().length).toBeGreaterThan(nth);
  return String(lines()[nth]?.reqId).replace(/-.*/, '');
}

/** What a client sees of an answer, less what differs by the moment (Date) or the connection. */
function answer({ status, headers, body }: RawResponse) {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers;
  return { status, headers: rest, body: body.toString('utf8') };
}

describe('narinfo hot path', () => {
  it('answers hits and misses, GET and HEAD, exactly as the Fastify route does', async () => {
    const served = await serveOnePath();
    for (const method of ['GET', 'HEAD'] as const) {
      for (const hash of [HASH_PART, MISSING]) {
        const hot = await rawRequest(`${served.base}/${hash}.narinfo`, { method });
        // A query string is left to Fastify, which routes it to the same handler.
        const routed = await rawRequest(`${served.base}/${hash}.narinfo?via=fastify`, { method });
        expect(answer(hot), `${method} ${hash}`).toEqual(answer(routed));
        expect(await answeredBy(served, `/${hash}.narinfo`, method === 'HEAD' ? 1 : 0)).toBe('narinfo');
        expect(await answeredBy(served, `/${hash}.narinfo?via=fastify`, method === 'HEAD' ? 1 : 0)).toBe('req');
      }
    }
    const hit = await rawRequest(`${served.base}/${HASH_PART}.narinfo`);
    expect(hit.status).toBe(200);
    expect(hit.body.toString()).toContain(`StorePath: ${STORE_PATH}\n`);
    expect(hit.headers).toMatchObject({ 'content-type': 'text/x-nix-narinfo', 'cache-control': 'public, max-age=60', vary: 'Accept-Encoding' });
  });

  it('writes the access log line with route, status, bytes, duration and the proxy request id', async () => {
    const served = await serveOnePath();
    const hit = await rawRequest(`${served.base}/${HASH_PART}.narinfo`, { headers: { 'x-request-id': 'abc-123' } });
    await expect.poll(() => served.log.filter((l) => l.msg === 'request completed' && l.reqId === 'abc-123').length).toBe(1);
    expect(served.log.find((l) => l.reqId === 'abc-123')).toMatchObject({
      method: 'GET',
      url: `/${HASH_PART}.narinfo`,
      route: '/:hash.narinfo',
      status: 200,
      bytesIn: 0,
      bytesOut: hit.body.length,
      durationMs: expect.any(Number),
    });
  });

  it('counts its answers in the metrics under the narinfo route and records access to hits only', async () => {
    const served = await serveOnePath();
    for (const hash of [HASH_PART, HASH_PART, MISSING]) await rawRequest(`${served.base}/${hash}.narinfo`);
    await rawRequest(`${served.base}/${HASH_PART}.narinfo`, { method: 'HEAD' });
    const text = await (await fetch(`${served.base}/metrics`)).text();
    const sample = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.slice(series.length + 1),
      );
    expect(sample('nar_bridge_http_requests_total{method="GET",route="/:hash.narinfo",status="200"}')).toBe(2);
    expect(sample('nar_bridge_http_requests_total{method="GET",route="/:hash.narinfo",status="404"}')).toBe(1);
    expect(sample('nar_bridge_http_requests_total{method="HEAD",route="/:hash.narinfo",status="200"}')).toBe(1);
    expect(served.accessed).toEqual(Array(3).fill(served.accessed[0]));
    expect(served.accessed[0]).toMatch(/^[0-9a-f]{40}$/);
  });

  it('leaves to Fastify what it does not handle: a coding asked for, a malformed hash, another method', async () => {
    const served = await serveOnePath();
    const gzipped = await rawRequest(`${served.base}/${HASH_PART}.narinfo`, { headers: { 'accept-encoding': 'gzip' } });
    expect([gzipped.status, gzipped.headers['content-encoding']]).toEqual([200, 'gzip']);
    expect(await answeredBy(served, `/${HASH_PART}.narinfo`)).toBe('req');
    const malformed = await rawRequest(`${served.base}/${'e'.repeat(32)}.narinfo`);
    expect(malformed.status).toBe(400);
    const put = await fetch(`${served.base}/${MISSING}.narinfo`, { method: 'PUT', body: 'StorePath: x\n' });
    expect(put.status).toBe(401);
  });

  it('with private reads, answers a valid token and leaves a missing or wrong one to be refused', async () => {
    const served = await serveOnePath({ privateReads: true });
    const url = `${served.base}/${HASH_PART}.narinfo`;
    const granted = await rawRequest(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([granted.status, granted.headers['cache-control']]).toEqual([200, 'private, max-age=60']);
    expect(await answeredBy(served, `/${HASH_PART}.narinfo`)).toBe('narinfo');
    const basic = await rawRequest(url, { headers: { authorization: `Basic ${Buffer.from(`nix:${TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);
    const anonymous = await rawRequest(url);
    expect([anonymous.status, anonymous.headers['www-authenticate']]).toEqual([401, 'Basic realm="nar-bridge"']);
    expect((await rawRequest(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(served.accessed).toHaveLength(2);
  });

  it('hands a failing lookup to Fastify, which answers it with a status and a one-line reason', async () => {
    const served = await serveOnePath({ failLookups: true });
    const failed = await rawRequest(`${served.base}/${HASH_PART}.narinfo`);
    expect(failed.status).toBe(500);
    expect(failed.body.toString()).toBe('internal error\n');
    expect(failed.headers['cache-control']).toBe('no-store');
    await expect.poll(() => served.log.some((l) => l.msg === 'request failed')).toBe(true);
  });
});
