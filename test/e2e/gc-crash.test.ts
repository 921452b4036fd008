// Issue 14: kill -9 of `nar-bridge gc` before its sweep commits, after it, and after a repack re-pointed the index
// but before the old pack went: every remaining path verifies, and the next run finishes the job.
import { cp } from 'node:fs/promises';
import { afterAll, afterEach, expect, test } from 'vitest';
import { cleanupE2E, disposeFixtures, hashPart, httpRequest, makeFixtures, makeLargePath, makeTempDir, startServer } from './harness.js';
import { cli, packBytes, push } from './gc-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

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
