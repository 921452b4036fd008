// `nar-bridge gc` and `delete` beside a live server: allowed (pushes of every process wait behind the fence in
// meta.sqlite), and `gc` then keeps NARs no narinfo claimed yet and objects nothing refers to yet for the server's
// grace periods, as a push may be half-way; with no live server (one killed -9 counts as gone) it reclaims them at once.
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { deleteCommand, gcCommand, pinCommand } from '../../src/cli/gc.js';
import { openLocalStore } from '../../src/cli/open-store.js';
import { NarBridgeError } from '../../src/errors.js';
import { buildServer } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import { receiveNar } from '../../src/store/index.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { addPath, once, tempDataDir, treeNar } from '../store/gc/fixture.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A data dir holding one path and one NAR no narinfo claimed, with `pid` registered as serving it. */
async function servedBy(pid: number): Promise<{ dataDir: string; path: string }> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const local = await openLocalStore(dataDir);
  const path = await addPath(local, 'p', { f: 'x' });
  const half = treeNar({ g: 'a push whose narinfo has not come yet' });
  await receiveNar(local.store, createHash('sha256').update(half).digest(), once(half));
  local.gc?.tables.db.prepare('INSERT INTO gc_servers (pid, started_at) VALUES (?, 0)').run([pid]);
  await local.packs?.flush();
  local.close();
  return { dataDir, path: path.toAbsolute() };
}

async function gcJson(dataDir: string, ...flags: string[]): Promise<{ uploads: number; records: number }> {
  let out = '';
  await gcCommand(['--json', '--data-dir', dataDir, ...flags], { env: {}, stdout: (t) => (out += t) });
  return JSON.parse(out) as { uploads: number; records: number };
}

const io = { env: {}, stdout: () => undefined };

test('beside a live server gc keeps a half-way push for the grace period, and delete and pin work', async () => {
  const { dataDir, path } = await servedBy(process.ppid);
  expect(await gcJson(dataDir)).toMatchObject({ uploads: 0, records: 0 });
  expect(await gcJson(dataDir, '--gc-upload-grace', '0s')).toMatchObject({ uploads: 1, records: 0 }); // objects: 1 h
  expect(await gcJson(dataDir, '--gc-object-grace', '0s')).toMatchObject({ uploads: 0, records: 1 });
  expect(await pinCommand(['--data-dir', dataDir, path], io)).toBe(0);
  await expect(deleteCommand(['--data-dir', dataDir, path], io)).rejects.toThrow(/pinned/);
});

test('with no live server (one killed -9 is gone) gc reclaims unclaimed uploads at once', async () => {
  const { dataDir, path } = await servedBy(2 ** 22 + 12345); // above Linux's pid_max: no such process
  expect(await gcJson(dataDir)).toMatchObject({ uploads: 1, records: 1 });
  expect(await deleteCommand(['--data-dir', dataDir, path], io)).toBe(0);
});

test('gc --server asks the server to collect (with a write token from --token-file) and prints its report', async () => {
  const dir = await tempDataDir();
  dirs.push(dir);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'w-0123456789abcdef\n');
  const asked: boolean[] = [];
  const app = await buildServer({
    store: servedMemoryStore(),
    priority: 40,
    access: { tokens: AccessTokens.parse('write w-0123456789abcdef\n'), privateReads: false },
    collectGarbage: async (dryRun) => {
      asked.push(dryRun);
      if (asked.length === 3) throw new NarBridgeError('NB_ERR_CONFLICT', 'another garbage collection is running (pid 7)');
      return {
        dryRun,
        evicted: [],
        directories: 1,
        records: 2,
        chunkLists: 0,
        objectBytes: 2048,
        uploads: 0,
        buildLogs: 0,
        packsRemoved: 1,
        diskBytesFreed: 4096,
        durationMs: 3,
        fencedMs: 1,
      };
    },
  });
  try {
    const server = await app.listen({ host: '127.0.0.1', port: 0 });
    let out = '';
    const capture = { env: {}, stdout: (t: string) => (out += t) };
    expect(await gcCommand(['--server', server, '--token-file', tokenFile, '--dry-run'], capture)).toBe(0);
    expect(out).toMatch(/^would reclaim: 0 paths evicted, 1 directories, 2 objects/);
    out = '';
    expect(await gcCommand(['--server', server, '--token-file', tokenFile, '--json'], capture)).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ dryRun: false, records: 2, packsRemoved: 1 });
    await expect(gcCommand(['--server', server, '--token-file', tokenFile], io)).rejects.toMatchObject({
      code: 'NB_ERR_CONFLICT',
      message: expect.stringMatching(/answered 409: another garbage collection is running/),
    });
    await expect(gcCommand(['--server', server], io)).rejects.toThrow(/answered 401/);
    await expect(gcCommand(['--server', server, '--gc-max-size', '1G'], io)).rejects.toThrow(/--gc-max-size does not go with --server/);
    expect(asked).toEqual([true, false, false]);
  } finally {
    await app.close();
  }
});
