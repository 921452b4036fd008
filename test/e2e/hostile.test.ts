// Hostile input over HTTP (issue #5): every malformed NAR, narinfo and castore URL gets its 4xx and a one-line
// reason, the server stays up, and what it stores is unchanged. A real listening server, fetch, a memory store.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, DEFAULT_HTTP_LIMITS } from '../../src/http/index.js';
import { encodeNixBase32 } from '../../src/nix/index.js';
import { concatBytes, directoryNar, nar, str, u64 } from '../nar/nar-bytes.js';
import { servedMemoryStore } from '../store/memory-store.js';

const GOOD_PATH = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-good';
const GOOD_NAR = nar('nix-archive-1', '(', 'type', 'regular', 'contents', str('hello\n'), ')');
const IDLE_MS = 300;

let app: FastifyInstance;
let base: string;
let port: number;
let goodNarInfo: string;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const fileName = (b: Uint8Array) => `${encodeNixBase32(sha256(b))}.nar`;

/**
 * One connection per request (agent: false), so a refusal sent before the body was read cannot affect the next.
 * A keep-alive agent instead leaves the decision to close the connection to the server.
 */
async function request(method: string, url: string, body?: Uint8Array | string, agent: http.Agent | false = false) {
  const req = http.request(`${base}${url}`, { method, agent });
  req.on('error', () => undefined); // EPIPE when the server refuses before reading the whole body
  req.end(body === undefined ? undefined : Buffer.from(body));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), connection: res.headers.connection };
}

function narInfoFor(storePath: string, narBytes: Uint8Array, url = `nar/${fileName(narBytes)}`) {
  return `StorePath: ${storePath}\nURL: ${url}\nCompression: none\nNarHash: sha256:${encodeNixBase32(sha256(narBytes))}\nNarSize: ${narBytes.length}\nReferences: \n`;
}

/** Refused with `status` and a one-line reason; the server still answers, and the stored path is unchanged. */
async function expectRefused(res: { status: number; body: string }, status: number, reason?: RegExp) {
  expect(res.status, res.body).toBe(status);
  expect(res.body.trim()).not.toBe('');
  expect(res.body.trim()).not.toContain('\n');
  if (reason) expect(res.body).toMatch(reason);
  const after = await request('GET', '/00bgd045z0d4icpbc2yyz4gx48ak44la.narinfo');
  expect(after.status).toBe(200);
  expect(after.body).toBe(goodNarInfo);
}

/** A NAR upload that must be refused and leave nothing behind that a narinfo could name. */
async function expectNarRefused(narBytes: Uint8Array, status = 400, reason?: RegExp) {
  await expectRefused(await request('PUT', `/nar/${fileName(narBytes)}`, narBytes), status, reason);
  expect((await request('HEAD', `/nar/${fileName(narBytes)}`)).status).toBe(404);
}

beforeAll(async () => {
  const store = servedMemoryStore();
  const limits = {
    ...DEFAULT_HTTP_LIMITS,
    uploadIdleTimeoutMs: IDLE_MS,
    maxConcurrentUploads: 4,
    upload: { maxNarSize: 64 * 1024 * 1024, maxDecompressionRatio: 100, nar: { maxDepth: 64, maxEntriesPerDirectory: 100 } },
  };
  app = await buildServer({ store, priority: 40, limits });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  expect((await request('PUT', `/nar/${fileName(GOOD_NAR)}`, GOOD_NAR)).status).toBe(204);
  expect((await request('PUT', '/00bgd045z0d4icpbc2yyz4gx48ak44la.narinfo', narInfoFor(GOOD_PATH, GOOD_NAR))).status).toBe(204);
  goodNarInfo = (await request('GET', '/00bgd045z0d4icpbc2yyz4gx48ak44la.narinfo')).body;
});

afterAll(async () => {
  await app.close();
});

const fileNode = (name: string | Uint8Array) => directoryNar([name]);
const deep = (levels: number) => {
  const open = nar('entry', '(', 'name', 'd', 'node', '(', 'type', 'directory');
  const close = nar(')', ')');
  return concatBytes([
    nar('nix-archive-1', '(', 'type', 'directory'),
    ...Array<Uint8Array>(levels).fill(open),
    ...Array<Uint8Array>(levels).fill(close),
    nar(')'),
  ]);
};

describe('hostile NARs', () => {
  it.each([
    ['bad magic', nar('nix-archive-2', '(', 'type', 'regular', 'contents', str(''), ')')],
    [
      'non-zero padding',
      concatBytes([nar('nix-archive-1', '(', 'type', 'regular', 'contents'), u64(1n), new Uint8Array([0x41, 1, 0, 0, 0, 0, 0, 0]), nar(')')]),
    ],
    ['unsorted names', directoryNar(['b', 'a'])],
    ['duplicate names', directoryNar(['a', 'a'])],
    ['the name "."', fileNode('.')],
    ['the name ".."', fileNode('..')],
    ['a name with "/"', fileNode('a/b')],
    ['a name with NUL', fileNode(new Uint8Array([0x61, 0, 0x62]))],
    ['an empty name', fileNode('')],
    ['a string length near 2^64', concatBytes([nar('nix-archive-1', '(', 'type', 'regular', 'contents'), u64(2n ** 64n - 8n)])],
    ['10,000 nested directories', deep(10_000)],
    ['trailing garbage', concatBytes([GOOD_NAR, new Uint8Array([1, 2, 3])])],
    ['more entries than allowed in one directory', directoryNar(Array.from({ length: 101 }, (_, i) => `f${String(i).padStart(3, '0')}`))],
  ])('refuses %s with 400', async (_label, narBytes) => {
    await expectNarRefused(narBytes, 400);
  });

  it('refuses the small NAR cut at every token boundary', async () => {
    const tokens = [str('nix-archive-1'), str('('), str('type'), str('regular'), str('executable'), str(''), str('contents'), str('hi'), str(')')];
    const whole = concatBytes(tokens);
    for (let end = 0, i = 0; i < tokens.length - 1; i++) {
      end += tokens[i]?.length ?? 0;
      await expectNarRefused(whole.subarray(0, end), 400);
    }
  });

  it('cuts off a decompression bomb with 413', async () => {
    const huge = concatBytes([nar('nix-archive-1', '(', 'type', 'regular', 'contents'), u64(40n * 1024n * 1024n), new Uint8Array(40 * 1024 * 1024), nar(')')]);
    await expectNarRefused(gzipSync(huge), 413, /decompresses to more than 100 times/);
  });

  // Regression: the unread rest of the body stayed paused on an open socket, so the server never finished closing.
  it('refuses a NAR over --max-nar-size with 413 and closes the connection it stopped reading', async () => {
    const big = concatBytes([nar('nix-archive-1', '(', 'type', 'regular', 'contents'), u64(65n * 1024n * 1024n)]);
    const body = concatBytes([big, new Uint8Array(65 * 1024 * 1024)]);
    const agent = new http.Agent({ keepAlive: true });
    const res = await request('PUT', `/nar/${fileName(body)}`, body, agent).finally(() => agent.destroy());
    expect(res.connection).toBe('close');
    await expectRefused(res, 413, /larger than the 67108864-byte limit/);
    expect((await request('HEAD', `/nar/${fileName(body)}`)).status).toBe(404);
  });
});

describe('stalled uploads', () => {
  it.each([
    ['a NAR', () => `/nar/${fileName(GOOD_NAR)}`, GOOD_NAR],
    ['a narinfo', () => '/11bgd045z0d4icpbc2yyz4gx48ak44la.narinfo', Buffer.from(narInfoFor('/nix/store/11bgd045z0d4icpbc2yyz4gx48ak44la-other', GOOD_NAR))],
  ])('refuses %s upload that stalls with 400 (never 408: Nix hangs on it) and closes the connection', async (_label, url, body) => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`PUT ${url()} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 16));
    let response = '';
    socket.on('data', (b: Buffer) => (response += b.toString()));
    await once(socket, 'close');
    expect(response).toMatch(/^HTTP\/1.1 400 /);
    expect(response).toMatch(/upload sent nothing for 300 ms/);
    expect(response.toLowerCase()).toContain('connection: close');
  });
});

describe('hostile narinfos', () => {
  const path = '/nix/store/11bgd045z0d4icpbc2yyz4gx48ak44la-other';
  const url = '/11bgd045z0d4icpbc2yyz4gx48ak44la.narinfo';
  const valid = () => narInfoFor(path, GOOD_NAR);

  it.each([
    ['CRLF line endings', () => valid().replaceAll('\n', '\r\n'), 400],
    ['a missing NarHash', () => valid().replace(/NarHash: .*\n/, ''), 400],
    ['a missing StorePath', () => valid().replace(/StorePath: .*\n/, ''), 400],
    ['a StorePath not matching the URL', () => narInfoFor(GOOD_PATH.replace('-good', '-evil'), GOOD_NAR), 400],
    ['References as full paths', () => valid().replace('References: ', `References: ${GOOD_PATH}`), 400],
    ['a NAR nobody uploaded', () => narInfoFor(path, GOOD_NAR, `nar/${fileName(new Uint8Array([1]))}`), 400],
    ['a 10 MB body', () => `${valid()}X: ${'a'.repeat(10 * 1024 * 1024)}\n`, 413],
  ])('refuses %s', async (_label, text, status) => {
    await expectRefused(await request('PUT', url, text()), status);
    expect((await request('GET', url)).status).toBe(404);
  });
});

describe('hostile castore NAR URLs', () => {
  const good = () => /URL: (\S+)/.exec(goodNarInfo)?.[1] ?? '';
  const node = () => /nar\/tvix-castore\/([^?]+)/.exec(good())?.[1] ?? '';
  it.each([
    ['invalid base64', () => '/nar/tvix-castore/@@@@', 400],
    // Fastify's own router refuses the URL before our node decoder sees it.
    ['an oversized node', () => `/nar/tvix-castore/${'A'.repeat(9000)}`, 414],
    ['a malformed node', () => `/nar/tvix-castore/${Buffer.from([0x0a, 0x05, 1]).toString('base64url')}`, 400],
    [
      'a non-empty name',
      () => `/nar/tvix-castore/${Buffer.from([0x12, 0x27, 0x0a, 0x01, 0x78, 0x12, 0x20, ...sha256(GOOD_NAR), 0x18, 0x06]).toString('base64url')}`,
      400,
    ],
    [
      'an unknown digest',
      () => `/nar/tvix-castore/${Buffer.from([0x12, 0x24, 0x12, 0x20, ...sha256(new Uint8Array([9])), 0x18, 0x06]).toString('base64url')}`,
      404,
    ],
    ['a narsize that lies', () => `/nar/tvix-castore/${node()}?narsize=1`, 404],
  ])('refuses %s', async (_label, url, status) => {
    await expectRefused(await request('GET', url()), status);
  });

  it('still serves the real one', async () => {
    expect((await request('GET', `/${good()}`)).status).toBe(200);
  });
});
