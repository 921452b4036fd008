// The runner behind serve's GC schedule and POST /admin/gc: one run at a time in a process (the GC lock only keeps
// other processes out), metrics and one log line per run.
import { rm } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { afterEach, expect, test } from 'vitest';
import { embeddedCollector, gcRunner } from '../../src/cli/gc-schedule.js';
import { GcMetrics } from '../../src/http/index.js';
import { openLocalStore, tempDataDir } from '../store/gc/fixture.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

test('a second run asked for while one is going in the same process is refused as a conflict and counted as skipped', async () => {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const local = await openLocalStore(dataDir);
  if (!local.gc) throw new Error('embedded store expected');
  const registry = new Registry();
  const lines: string[] = [];
  const log = {
    info: (_f: object, msg: string) => lines.push(msg),
    warn: (_f: object, msg: string) => lines.push(msg),
    error: (_f: object, msg: string) => lines.push(msg),
  };
  const run = gcRunner(embeddedCollector(local.gc), { retention: {}, uploadGraceMs: 0, objectGraceMs: 0 }, log, new GcMetrics(registry));
  let finish!: () => void;
  const writing = local.gc.fence.shared(() => new Promise<void>((resolve) => (finish = resolve))); // holds the first run in its fence wait
  const first = run(false);
  await expect(run(false)).rejects.toMatchObject({ code: 'NB_ERR_CONFLICT' });
  finish();
  await writing;
  expect(await first).toMatchObject({ dryRun: false });
  expect(await run(false)).toMatchObject({ dryRun: false }); // free again
  expect(lines).toEqual(['garbage collection skipped', 'garbage collection done', 'garbage collection done']);
  expect(await registry.getSingleMetricAsString('nar_bridge_gc_runs_total')).toMatch(
    /outcome="skipped"} 1[\s\S]*outcome="ok"} 2|outcome="ok"} 2[\s\S]*outcome="skipped"} 1/,
  );
  local.close();
});
