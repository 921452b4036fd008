// End-to-end: what an operator watches on a real `nar-bridge serve` while real Nix pushes to it.
import { afterAll, afterEach, expect, test } from 'vitest';
import { cleanupE2E, disposeFixtures, makeFixtures, makeTempDir, runNix, startServer } from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

function sampleOf(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

test('metrics follow a nix copy, and every request leaves one structured completion line', async () => {
  const fx = await makeFixtures();
  const server = await startServer({ dataDir: await makeTempDir('data') });
  const before = await (await fetch(`${server.url}/metrics`)).text();
  expect(sampleOf(before, 'nar_bridge_store_objects{kind="path_infos"}')).toBe(0);
  expect(await (await fetch(`${server.url}/readyz`)).text()).toBe('ready\n');

  await runNix(['copy', '--to', server.url, fx.y], fx.env);
  // Request counters are live; store gauges are measured at most every 30 s, so they are checked on a restart below.
  const after = await (await fetch(`${server.url}/metrics`)).text();
  const narPuts = sampleOf(after, 'nar_bridge_http_requests_total{method="PUT",route="/nar/:file",status="204"}');
  expect(narPuts).toBeGreaterThanOrEqual(3);
  expect(sampleOf(after, 'nar_bridge_http_ingested_bytes_total{route="/nar/:file"}')).toBeGreaterThan(500);
  expect(sampleOf(after, 'nar_bridge_uploads_in_flight')).toBe(0);

  const completions = server.logRecords().filter((r) => r.msg === 'request completed');
  expect(completions.some((r) => r.route === '/nar/:file' && r.status === 204 && typeof r.reqId === 'string' && typeof r.durationMs === 'number')).toBe(true);
  expect(server.logRecords().some((r) => r.msg === 'incoming request')).toBe(false);

  const dataDir = await makeTempDir('data2');
  const second = await startServer({ dataDir });
  await runNix(['copy', '--to', second.url, fx.y], fx.env);
  await second.stop();
  const restarted = await startServer({ dataDir });
  const stored = await (await fetch(`${restarted.url}/metrics`)).text();
  expect(sampleOf(stored, 'nar_bridge_store_objects{kind="path_infos"}')).toBe(3); // y, dep, deptree
  expect(sampleOf(stored, 'nar_bridge_store_objects{kind="blobs"}')).toBeGreaterThanOrEqual(3);
  expect(sampleOf(stored, 'nar_bridge_store_disk_bytes')).toBeGreaterThan(4096);
});
