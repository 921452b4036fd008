// /metrics, /healthz, /readyz and the access log, through a real listening server over a memory store.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer, HttpMetrics } from '../../src/http/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { BinaryCacheClient, composeStore, type Store } from '../../src/store/index.js';
import { nar, seededRandom, str } from '../nar/nar-bytes.js';
import { memoryStore, servedMemoryStore } from '../store/memory-store.js';

let app: FastifyInstance;
let base: string;
let logLines: Array<Record<string, unknown>>;
let pathInfosSeen: number;

/** A log destination that keeps every JSON line in `into`. */
function captured(into: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) into.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
}

beforeEach(async () => {
  const store = servedMemoryStore();
  logLines = [];
  pathInfosSeen = 3;
  const stream = captured(logLines);
  const metrics = new HttpMetrics(new Registry(), async () => ({ blobs: 1, blobBytes: 2048, directories: 2, pathInfos: pathInfosSeen, diskBytes: 4096 }));
  app = await buildServer({ store, priority: 40, metrics, logger: { level: 'info', stream } });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  await app.close();
});

/** The value of one sample line of the exposition, e.g. `name{label="x"}`; null when absent. */
async function sample(series: string): Promise<number | null> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('counts requests by route and status, and bytes served', async () => {
    const requests = 'nar_bridge_http_requests_total{method="GET",route="/nix-cache-info",status="200"}';
    const missing = 'nar_bridge_http_requests_total{method="GET",route="/:hash.narinfo",status="404"}';
    expect(await sample(requests)).toBeNull();
    // Asked for uncompressed, so the body sent is the text received.
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) bodies.push(await (await fetch(`${base}/nix-cache-info`, { headers: { 'accept-encoding': 'gzip;q=0' } })).text());
    await fetch(`${base}/00000000000000000000000000000000.narinfo`);
    expect(await sample(requests)).toBe(3);
    expect(await sample(missing)).toBe(1);
    // Body bytes only, headers excluded.
    expect(await sample('nar_bridge_http_served_bytes_total{route="/nix-cache-info"}')).toBe(bodies.join('').length);
    expect(await sample('nar_bridge_http_request_duration_seconds_count{method="GET",route="/nix-cache-info"}')).toBe(3);
  });

  it('keeps counting across scrapes: each request once, by the scrape after it', async () => {
    const hits = 'nar_bridge_http_requests_total{method="GET",route="/healthz",status="200"}';
    const served = 'nar_bridge_http_served_bytes_total{route="/healthz"}';
    await fetch(`${base}/healthz`);
    expect([await sample(hits), await sample(served)]).toEqual([1, 3]);
    // Scraped again with nothing in between: nothing added twice.
    expect(await sample(hits)).toBe(1);
    for (let i = 0; i < 2; i++) await fetch(`${base}/healthz`);
    expect([await sample(hits), await sample(served)]).toEqual([3, 9]);
  });

  it('counts ingested bytes and reports store gauges from the stats source', async () => {
    const body = 'x'.repeat(10_000);
    expect((await fetch(`${base}/00000000000000000000000000000000.ls`, { method: 'PUT', body })).status).toBe(204);
    expect(await sample('nar_bridge_http_ingested_bytes_total{route="/:hash.ls"}')).toBe(10_000);
    expect(await sample('nar_bridge_uploads_in_flight')).toBe(0);
    expect(await sample('nar_bridge_readahead_bytes')).toBe(0);
    expect(await sample('nar_bridge_store_objects{kind="path_infos"}')).toBe(3);
    pathInfosSeen = 4;
    expect(await sample('nar_bridge_store_objects{kind="path_infos"}')).toBe(4);
    expect(await sample('nar_bridge_store_disk_bytes')).toBe(4096);
    expect(await sample('nar_bridge_store_blob_bytes')).toBe(2048);
  });

  it('counts an upload as in flight while its body is arriving', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new Uint8Array(10));
        await gate;
        controller.close();
      },
    });
    const put = fetch(`${base}/00000000000000000000000000000000.ls`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    await expect.poll(() => sample('nar_bridge_uploads_in_flight')).toBe(1);
    release();
    expect((await put).status).toBe(204);
    await expect.poll(() => sample('nar_bridge_uploads_in_flight')).toBe(0);
  });
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('ready\n');
  });
});

describe('access log', () => {
  it('writes one completion line per request with route, status, bytes, duration and the proxy request id', async () => {
    await fetch(`${base}/00000000000000000000000000000000.narinfo`, { headers: { 'x-request-id': 'abc-123' } });
    await expect.poll(() => logLines.filter((l) => l.msg === 'request completed').length).toBe(1);
    const line = logLines.find((l) => l.msg === 'request completed');
    expect(line).toMatchObject({ reqId: 'abc-123', method: 'GET', route: '/:hash.narinfo', status: 404, bytesIn: expect.any(Number) });
    expect(line?.bytesOut).toBeGreaterThan(10);
    expect(line?.durationMs).toBeGreaterThanOrEqual(0);
    expect(logLines.some((l) => l.msg === 'incoming request')).toBe(false);
  });
});

describe('log lines an operator reads', () => {
  const FILE_HASH = '1v97wqbn00hgcr19m8sy6s5gxk0pxkhlscivyl8nfwz3giggj5my';
  /** A NAR of one 1 MB file of noise: far more than a socket buffer, so half of it is a real partial upload. */
  const bigNar = (): Buffer => {
    const random = seededRandom(17);
    const contents = Uint8Array.from({ length: 1_000_000 }, () => Math.floor(random() * 256));
    return Buffer.from(nar('nix-archive-1', '(', 'type', 'regular', 'contents', str(contents), ')'));
  };

  it('puts the reason of a refusal on the completion line', async () => {
    const res = await fetch(`${base}/00000000000000000000000000000000.narinfo`, { method: 'PUT', body: 'not a narinfo' });
    expect(res.status).toBe(400);
    await expect.poll(() => logLines.filter((l) => l.msg === 'request completed').length).toBe(1);
    const line = logLines.find((l) => l.msg === 'request completed');
    expect(line).toMatchObject({ method: 'PUT', status: 400, reason: (await res.text()).trim() });
    expect(String(line?.reason)).not.toContain('\n');
  });

  it('counts body bytes out, not headers', async () => {
    const res = await fetch(`${base}/nix-cache-info`, { headers: { 'accept-encoding': 'gzip;q=0' } });
    const body = await res.text();
    expect(body).toMatch(/^StoreDir: /);
    await expect.poll(() => logLines.find((l) => l.msg === 'request completed')?.bytesOut).toBe(body.length);
  });

  // Regression: a client leaving mid-upload logged a level-50 "request failed" with a stack and no URL, and an
  // aborted xz upload logged nothing at all.
  it.each([
    ['plain', '.nar', (nar: Buffer) => nar],
    ['xz', '.nar.xz', (nar: Buffer) => execFileSync('xz', ['-0', '--stdout'], { input: nar })],
  ])('logs a %s upload the client abandons as one warn line with method, URL and bytes received', async (_name, suffix, encode) => {
    const body = encode(bigNar());
    const url = `/nar/${FILE_HASH}${suffix}`;
    await new Promise<void>((resolve) => {
      const req = request(`${base}${url}`, { method: 'PUT', headers: { 'content-length': String(body.length) } });
      req.on('error', () => resolve());
      req.write(body.subarray(0, body.length / 2), () => {
        // Let the server read some of it, then leave.
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
    });
    await expect.poll(() => logLines.filter((l) => l.msg === 'client went away during upload').length).toBe(1);
    const line = logLines.find((l) => l.msg === 'client went away during upload');
    expect(line).toMatchObject({ level: 40, method: 'PUT', url });
    expect(line?.bytesIn).toBeGreaterThan(0);
    expect(line?.bytesIn).toBeLessThanOrEqual(body.length / 2);
    // Give a late echo of the failure time to show up, then make sure there was none.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(logLines.filter((l) => Number(l.level) >= 40 && l.msg !== 'client went away during upload')).toEqual([]);
  });
});

describe('store failures in the log', () => {
  const failing = (): Store => {
    const store = memoryStore();
    return {
      ...store,
      pathInfos: {
        ...store.pathInfos,
        get: async () => {
          throw new NarBridgeError('NB_ERR_STORAGE', 'path info lookup failed', { cause: new Error('disk on fire') });
        },
        put: (info) => store.pathInfos.put(info),
        list: () => store.pathInfos.list(),
      },
    };
  };

  it.each([
    ['info', false],
    ['debug', true],
  ])('are one line with the cause at %s, stack frames only at debug', async (level, frames) => {
    const lines: Array<Record<string, unknown>> = [];
    const server = await buildServer({ store: composeStore(failing()), priority: 40, logger: { level, stream: captured(lines) } });
    try {
      const at = await server.listen({ host: '127.0.0.1', port: 0 });
      expect((await fetch(`${at}/00000000000000000000000000000000.narinfo`)).status).toBe(500);
      await expect.poll(() => lines.some((l) => l.msg === 'request failed')).toBe(true);
      const err = lines.find((l) => l.msg === 'request failed')?.err as Record<string, unknown>;
      expect(err.message).toBe('path info lookup failed: disk on fire');
      expect(String(err.stack).includes('\n    at ')).toBe(frames);
    } finally {
      await server.close();
    }
  });
});

describe('upstream failures in the log', () => {
  it('are one warn line with the cause and no stack frames at info', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const store = memoryStore();
    // A port that was just free: nothing listens, so the connection is refused at once.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const address = probe.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => probe.close(resolve));
    const client = new BinaryCacheClient({ baseUrl: `http://127.0.0.1:${port}`, trustedKeys: [], priority: 50 });
    const log = { info: (fields: object, msg: string) => server.log.info(fields, msg), warn: (fields: object, msg: string) => server.log.warn(fields, msg) };
    const upstreamStore = composeStore(store, { upstreams: [client], upstreamSettings: { missTtlMs: 60_000, log } });
    const server: FastifyInstance = await buildServer({ store: upstreamStore, priority: 40, logger: { level: 'info', stream: captured(lines) } });
    try {
      const at = await server.listen({ host: '127.0.0.1', port: 0 });
      expect((await fetch(`${at}/00000000000000000000000000000000.narinfo`)).status).toBe(404);
      await expect.poll(() => lines.some((l) => l.msg === 'upstream failed')).toBe(true);
      const err = lines.find((l) => l.msg === 'upstream failed')?.err as Record<string, unknown>;
      expect(err.message).toBe(
        `upstream http://127.0.0.1:${port}/00000000000000000000000000000000.narinfo failed: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
      expect(String(err.stack)).not.toContain('\n    at ');
    } finally {
      await server.close();
    }
  });
});
