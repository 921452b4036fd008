// `nar-bridge gc` and `delete` refuse a data dir a live server has open (its pushes are fenced against its own GC
// only); a server that died (kill -9) does not block them. Pins may change beside a server.
import { rm } from 'node:fs/promises';
import { afterEach, expect, test } from 'vitest';
import { deleteCommand, gcCommand, pinCommand } from '../../src/cli/gc.js';
import { openLocalStore } from '../../src/cli/open-store.js';
import { addPath, tempDataDir } from '../store/gc/fixture.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A data dir holding one path, with `pid` registered as serving it. */
async function servedBy(pid: number): Promise<{ dataDir: string; path: string }> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const local = await openLocalStore(dataDir);
  const path = await addPath(local, 'p', { f: 'x' });
  local.gc?.tables.db.prepare('INSERT INTO gc_servers (pid, started_at) VALUES (?, 0)').run([pid]);
  await local.packs?.flush();
  local.close();
  return { dataDir, path: path.toAbsolute() };
}

const io = { env: {}, stdout: () => undefined };

test('gc and delete are refused while a live server has the data dir open; pin is not', async () => {
  const { dataDir, path } = await servedBy(process.ppid);
  await expect(gcCommand(['--data-dir', dataDir], io)).rejects.toThrow(/a server \(pid \d+\) has this data dir open: collect with its --gc-interval/);
  await expect(deleteCommand(['--data-dir', dataDir, path], io)).rejects.toThrow(/DELETE \/<hash>\.narinfo/);
  expect(await pinCommand(['--data-dir', dataDir, path], io)).toBe(0);
});

test('a server that is gone does not block them', async () => {
  const { dataDir, path } = await servedBy(2 ** 22 + 12345); // above Linux's pid_max: no such process
  expect(await gcCommand(['--data-dir', dataDir], io)).toBe(0);
  expect(await deleteCommand(['--data-dir', dataDir, path], io)).toBe(0);
});
