// Issue 14 end to end, with the real Nix client: delete + gc give a closure's unique bytes back while the other
// closure and the shared dependency still substitute; DELETE is refused with 409 while referenced; a GC killed -9 at
// pushes racing a background GC (kill -9 mid-GC: gc-crash.test.ts).
import { afterAll, afterEach, expect, test } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  hashPart,
  httpRequest,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  sha256Base32,
  startServer,
  type NixEnv,
} from './harness.js';
import { randomBytes } from 'node:crypto';
import { treeNar } from '../store/gc/fixture.js';
import { cli, packBytes, push, substitutes } from './gc-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

test('delete one of two closures sharing a dependency, gc: its unique bytes leave the disk, the other closure still substitutes', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(4);
  const dataDir = await makeTempDir('gc-data');
  let server = await startServer({ dataDir });
  await push(server.url, fx.x, fx.env); // x → dep
  await push(server.url, fx.y, fx.env); // y → deptree, dep
  await push(server.url, large, fx.env);
  // dep is referenced: 409 with the reason; the large path is not.
  const refused = await httpRequest('DELETE', `${server.url}/${hashPart(fx.dep)}.narinfo`);
  expect(refused.status).toBe(409);
  expect(refused.body).toMatch(/referenced by/);
  expect((await httpRequest('GET', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200); // now cached
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  expect((await httpRequest('GET', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(404);
  // An interrupted push: its NAR arrived, its narinfo never will.
  const orphan = treeNar({ orphan: randomBytes(300_000) });
  expect((await httpRequest('PUT', `${server.url}/nar/${sha256Base32(orphan)}.nar`, orphan)).status).toBe(204);
  await server.stop();
  await cli(['delete', '--data-dir', dataDir, fx.y]);
  // A pinned closure is never deleted, not even recursively through its dependency.
  await cli(['pin', '--data-dir', dataDir, fx.x]);
  expect((await cli(['pins', '--data-dir', dataDir])).stdout).toBe(`${fx.x}\n`);
  expect((await cli(['delete', '--recursive', '--data-dir', dataDir, fx.dep], {}, 'fail')).stderr).toMatch(/pinned/);

  const before = await packBytes(dataDir);
  // Within its grace period the orphan upload stays; nar-bridge gc's own default (no server running) is no grace.
  const dry = JSON.parse((await cli(['gc', '--dry-run', '--json', '--gc-upload-grace', '1h', '--data-dir', dataDir])).stdout) as {
    records: number;
    uploads: number;
  };
  expect(dry).toMatchObject({ records: expect.any(Number), uploads: 0 });
  expect(dry.records).toBeGreaterThan(0);
  expect(await packBytes(dataDir)).toBe(before);
  const report = JSON.parse((await cli(['gc', '--json', '--data-dir', dataDir])).stdout) as { records: number; uploads: number };
  expect(report.records).toBe(dry.records + 1);
  expect(report.uploads).toBe(1);
  expect(before - (await packBytes(dataDir))).toBeGreaterThan(4 * 1024 * 1024 + 300_000);
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);

  server = await startServer({ dataDir });
  expect(await substitutes(server.url, fx.x, fx.env)).toBe(true);
  expect(await substitutes(server.url, fx.dep, fx.env)).toBe(true);
  expect(await substitutes(server.url, fx.deptree, fx.env)).toBe(true); // not deleted: only y was
  expect(await substitutes(server.url, fx.y, fx.env)).toBe(false);
  expect(await substitutes(server.url, large, fx.env)).toBe(false);
  await server.stop();
}, 120_000);

/**
 * With `--gc-upload-grace 0s` an unclaimed upload record may be swept between the HEAD that told Nix the NAR is here
 * and the narinfo PUT naming it: the push is then refused cleanly (400 "was not uploaded", nothing stored) and a
 * retry uploads the NAR. The default 24 h grace closes that window; what this test holds the server to is that no
 * interleaving leaves a broken path.
 */
async function pushRacingSweep(url: string, storePath: string, env: NixEnv): Promise<void> {
  try {
    await push(url, storePath, env);
  } catch (err) {
    if (!(err instanceof Error && err.message.includes('was not uploaded'))) throw err;
    await push(url, storePath, env);
  }
}

test('pushes racing a background GC that deletes what they deduplicate against never leave a broken path', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('gc-race');
  const server = await startServer({ dataDir, extraArgs: ['--gc-interval', '1s', '--gc-upload-grace', '0s'] });
  for (let round = 0; round < 4; round++) {
    await push(server.url, fx.y, fx.env);
    // Delete the closure and push it again at once: its objects are unreachable now, and the GC may be sweeping
    // them while the push deduplicates against them.
    for (const p of [fx.y, fx.deptree, fx.dep]) expect((await httpRequest('DELETE', `${server.url}/${hashPart(p)}.narinfo`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, round * 300));
    await pushRacingSweep(server.url, fx.y, fx.env);
    expect(await substitutes(server.url, fx.y, fx.env)).toBe(true);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(await substitutes(server.url, fx.y, fx.env)).toBe(true);
  const runs = server.logRecords().filter((r) => r.msg === 'garbage collection done');
  expect(runs.length).toBeGreaterThan(0);
  const metrics = await httpRequest('GET', `${server.url}/metrics`);
  expect(metrics.body).toMatch(/nar_bridge_gc_runs_total\{outcome="ok"\} [1-9]/);
  await server.stop();
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
}, 120_000);
