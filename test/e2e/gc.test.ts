// Issue 14 end to end, with the real Nix client: delete + gc give a closure's unique bytes back while the other
// closure and the shared dependency still substitute; DELETE is refused with 409 while referenced; a GC killed -9 at
// any phase leaves every path rendering to its NarHash and the next run finishes; pushes racing a background GC.
import { cp, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import {
  NIX_DEFAULT_TIMEOUT_MS,
  REPO_ROOT,
  cleanupE2E,
  disposeFixtures,
  hashPart,
  httpRequest,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  runCommand,
  runNix,
  startServer,
  type NixEnv,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}, expect: 'ok' | 'fail' | 'any' = 'ok') {
  return runCommand(process.execPath, [CLI, ...args], { ...process.env, ...env }, { expect, timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
}

async function packBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(path.join(dataDir, 'packs'))) total += (await stat(path.join(dataDir, 'packs', name))).size;
  return total;
}

async function push(url: string, storePath: string, env: NixEnv): Promise<void> {
  await runNix(['copy', '--to', url, storePath], env, { timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
}

async function substitutes(url: string, storePath: string, env: NixEnv): Promise<boolean> {
  const result = await runNix(['copy', '--from', url, '--to', env.newStore(), '--option', 'require-sigs', 'false', storePath], env, {
    expect: 'any',
    timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
  });
  return result.code === 0;
}

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
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  expect((await httpRequest('GET', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(404);
  await server.stop();
  await cli(['delete', '--data-dir', dataDir, fx.y]);

  const before = await packBytes(dataDir);
  const dry = JSON.parse((await cli(['gc', '--dry-run', '--json', '--data-dir', dataDir])).stdout) as { records: number };
  expect(dry.records).toBeGreaterThan(0);
  expect(await packBytes(dataDir)).toBe(before);
  const report = JSON.parse((await cli(['gc', '--json', '--data-dir', dataDir])).stdout) as { records: number; diskBytesFreed: number };
  expect(report.records).toBeGreaterThanOrEqual(dry.records);
  expect(before - (await packBytes(dataDir))).toBeGreaterThan(4 * 1024 * 1024);
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);

  server = await startServer({ dataDir });
  expect(await substitutes(server.url, fx.x, fx.env)).toBe(true);
  expect(await substitutes(server.url, fx.dep, fx.env)).toBe(true);
  expect(await substitutes(server.url, fx.deptree, fx.env)).toBe(true); // not deleted: only y was
  expect(await substitutes(server.url, fx.y, fx.env)).toBe(false);
  expect(await substitutes(server.url, large, fx.env)).toBe(false);
  await server.stop();
}, 120_000);

test('kill -9 at every phase of a GC: every remaining path verifies, and the next run finishes the job', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(4);
  const template = await makeTempDir('gc-kill');
  const server = await startServer({ dataDir: template });
  await push(server.url, fx.y, fx.env);
  await push(server.url, large, fx.env);
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  await server.stop();
  // Before the sweep commits, after it, and after a repack re-pointed the index but before the old pack is removed.
  for (const phase of ['marked', 'swept', 'repointed']) {
    const dataDir = await makeTempDir(`gc-kill-${phase}`);
    await cp(template, dataDir, { recursive: true });
    const killed = await cli(['gc', '--data-dir', dataDir], { NAR_BRIDGE_GC_DIE_AT: phase }, 'any');
    expect(killed.signal).toBe('SIGKILL');
    expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
    const finished = JSON.parse((await cli(['gc', '--json', '--data-dir', dataDir])).stdout) as { records: number };
    // After a crash past the sweep there is nothing left to delete, only packs to give back.
    if (phase === 'marked') expect(finished.records).toBeGreaterThan(0);
    expect(await packBytes(dataDir)).toBeLessThan(1024 * 1024);
    expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  }
}, 100_000);

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
    await push(server.url, fx.y, fx.env);
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
