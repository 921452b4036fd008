// Issue 14 under serve --workers 2: a background GC (whichever worker's turn it is) races concurrent `nix copy --to`
// of closures deduplicating against what is being deleted, on both workers; and `nar-bridge gc` runs beside the live
// server while pushes go on. Every PathInfo left must render to its NarHash, and the closures must substitute.
import { afterAll, afterEach, expect, test } from 'vitest';
import { cleanupE2E, disposeFixtures, hashPart, httpRequest, makeFixtures, makeLargePath, makeTempDir, nixEnv, startServer, type NixEnv } from './harness.js';
import { cli, push, substitutes } from './gc-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

/**
 * A push racing the sweep with `--gc-upload-grace 0s` may find its NAR's upload record gone by the time its narinfo
 * comes (400 "was not uploaded", nothing stored); Nix then needs one more try. So does a client that died of Nix's own
 * concurrent-copy bug ("coroutine has finished", NixOS/nix#6417; see faults.test.ts). Anything else is a failure.
 */
async function pushRacingSweep(url: string, storePath: string, env: NixEnv): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await push(url, storePath, env);
    } catch (err) {
      if (attempt === 3 || !(err instanceof Error && /was not uploaded|coroutine has finished/.test(err.message))) throw err;
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('two workers: pushes sharing objects with paths being deleted race the background GC and never leave a broken path', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(3);
  const dataDir = await makeTempDir('gc-workers');
  // One Nix environment (narinfo cache database) per concurrent client: Nix's own cache does not take concurrent copies.
  const [a, b, c] = await Promise.all([nixEnv(), nixEnv(), nixEnv()]);
  const server = await startServer({
    dataDir,
    extraArgs: ['--workers', '2', '--gc-interval', '1s', '--gc-upload-grace', '0s'],
  });
  for (let round = 0; round < 5; round++) {
    await Promise.all([pushRacingSweep(server.url, fx.y, a), pushRacingSweep(server.url, large, b)]);
    // Delete y's closure (dep recursively takes x, if pushed, too) and the large path while x, y and the large path
    // are pushed again: the pushes deduplicate against objects that just became unreachable, on either worker.
    const deletes = (async () => {
      await sleep(round * 150);
      for (const p of [fx.dep, large]) {
        const res = await httpRequest('DELETE', `${server.url}/${hashPart(p)}.narinfo?recursive=1`);
        expect([200, 404]).toContain(res.status);
      }
    })();
    await Promise.all([deletes, pushRacingSweep(server.url, fx.x, a), pushRacingSweep(server.url, fx.y, b), pushRacingSweep(server.url, large, c)]);
  }
  await sleep(1500); // a GC or two more after the last push
  const runs = server.logRecords().filter((r) => r.msg === 'garbage collection done');
  expect(runs.length).toBeGreaterThan(1);
  expect(runs.some((r) => Number(r.records) > 0)).toBe(true); // they did reclaim something while pushes went on
  // Every path left renders to its NarHash, checked beside the live server.
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  // Whatever the deletions took is pushed once more, and the closures then substitute whole.
  for (const p of [fx.x, fx.y, large]) await pushRacingSweep(server.url, p, fx.env);
  for (const p of [fx.x, fx.y, fx.dep, fx.deptree, large]) expect(await substitutes(server.url, p, fx.env)).toBe(true);
  const metrics = await httpRequest('GET', `${server.url}/metrics`);
  expect(metrics.body).toMatch(/nar_bridge_gc_runs_total\{outcome="ok"\} [1-9]/);
  expect(metrics.body).not.toMatch(/nar_bridge_gc_runs_total\{outcome="failed"\} [1-9]/);
  await server.stop();
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
}, 240_000);

test('nar-bridge gc beside a live two-worker server, while pushes go on: it runs, and nothing breaks', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(3);
  const dataDir = await makeTempDir('gc-beside');
  const [a, b] = await Promise.all([nixEnv(), nixEnv()]);
  const server = await startServer({ dataDir, extraArgs: ['--workers', '2'] });
  await push(server.url, large, fx.env);
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  // No gRPC client writes here, so objects need no grace (beside a live server it is 1 h by default).
  const gcs = (async () => {
    const reports: Array<{ records: number }> = [];
    for (let i = 0; i < 3; i++)
      reports.push(JSON.parse((await cli(['gc', '--json', '--gc-object-grace', '0s', '--data-dir', dataDir])).stdout) as { records: number });
    return reports;
  })();
  await Promise.all([pushRacingSweep(server.url, fx.y, a), pushRacingSweep(server.url, fx.x, b), gcs]);
  expect((await gcs).reduce((sum, r) => sum + r.records, 0)).toBeGreaterThan(0); // the deleted large path's chunks
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  for (const p of [fx.x, fx.y, fx.dep, fx.deptree]) expect(await substitutes(server.url, p, fx.env)).toBe(true);
  await server.stop();
}, 180_000);
