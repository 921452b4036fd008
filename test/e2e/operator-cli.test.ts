// End-to-end: the operator CLI against a real local Nix store — import a closure, read it back through the
// server with real Nix, and inspect the store with `info`.
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import {
  REPO_ROOT,
  cleanupE2E,
  disposeFixtures,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  pathInfo,
  runCommand,
  runNix,
  snapshotTree,
  startServer,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

test('import -r of a closure, then nix copy --from the server installs it byte for byte', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  const run = (...args: string[]) => runCommand(process.execPath, [CLI, ...args, '--data-dir', dataDir], fx.env.env);

  const first = await run('import', '-r', '--json', fx.y);
  const summary = JSON.parse(first.stdout) as { imported: string[]; skipped: string[]; narBytes: number };
  expect(summary.imported.sort()).toEqual([fx.dep, fx.deptree, fx.y].sort());
  expect(summary.skipped).toEqual([]);
  expect(first.stderr).toContain('[3/3]');
  const again = JSON.parse((await run('import', '-r', '--json', fx.y, fx.hello)).stdout) as typeof summary;
  expect(again.imported).toEqual([fx.hello]);
  expect(again.skipped).toHaveLength(3);

  const info = JSON.parse((await run('info', '--json')).stdout) as Record<string, number>;
  expect(info.pathInfos).toBe(4);
  expect(info.narBytes).toBe(summary.narBytes + (await pathInfo(fx.hello, fx.env)).narSize);
  expect(info.blobs).toBeGreaterThanOrEqual(4);
  expect(info.dedupRatio).toBeGreaterThan(1);

  const server = await startServer({ dataDir });
  const client = await nixEnv();
  const store = client.newStore();
  // The fixtures are local builds without signatures, so this pull does not require any.
  await runNix(['copy', '--from', server.url, '--to', store, '--option', 'require-sigs', 'false', fx.y], client);
  for (const p of [fx.y, fx.dep, fx.deptree]) {
    expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
    const served = await pathInfo(p, client, server.url);
    const original = await pathInfo(p, fx.env);
    expect(served.narHash).toBe(original.narHash);
    expect([...served.references].sort()).toEqual([...original.references].sort());
    expect(served.deriver).toBe(original.deriver);
    expect(served.ca).toBe(original.ca);
  }
});
