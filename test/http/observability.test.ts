// /metrics, /healthz, /readyz and the access log, through a real listening server over a memory store.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildServer, HttpMetrics } from '../../src/http/index.js';
import { servedMemoryStore } from '../store/memory-store.js';

let app: FastifyInstance;
let base: string;
let logLines: Array<Record<string, unknown>>;
let pathInfosSeen: number;

beforeEach(async () => {
  const store = servedMemoryStore();
  logLines = [];
  pathInfosSeen = 3;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new HttpMetrics(new Registry(), async () => ({ blobs: 1, directories: 2, pathInfos: pathInfosSeen, diskBytes: 4096 }));
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
    for (let i = 0; i < 3; i++) expect((await fetch(`${base}/nix-cache-info`)).status).toBe(200);
    await fetch(`${base}/00000000000000000000000000000000.narinfo`);
    expect(await sample(requests)).toBe(3);
    expect(await sample(missing)).toBe(1);
    // Each reply is the 48-byte body plus its headers.
    expect(await sample('nar_bridge_http_served_bytes_total{route="/nix-cache-info"}')).toBeGreaterThan(3 * 48);
    expect(await sample('nar_bridge_http_request_duration_seconds_count{method="GET",route="/nix-cache-info"}')).toBe(3);
  });

  it('counts ingested bytes and reports store gauges from the stats source', async () => {
    const body = 'x'.repeat(10_000);
    expect((await fetch(`${base}/00000000000000000000000000000000.ls`, { method: 'PUT', body })).status).toBe(204);
    expect(await sample('nar_bridge_http_ingested_bytes_total{route="/:hash.ls"}')).toBe(10_000);
    expect(await sample('nar_bridge_uploads_in_flight')).toBe(0);
    expect(await sample('nar_bridge_store_objects{kind="path_infos"}')).toBe(3);
    pathInfosSeen = 4;
    expect(await sample('nar_bridge_store_objects{kind="path_infos"}')).toBe(4);
    expect(await sample('nar_bridge_store_disk_bytes')).toBe(4096);
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
