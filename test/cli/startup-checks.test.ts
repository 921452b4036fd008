// Startup checks and the summary's pieces, without spawning a server (test/cli/cli.test.ts and
// test/e2e/startup-summary.test.ts run them for real).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { prepareDataDir, storeWritable } from '../../src/cli/startup-checks.js';
import { changedFrom } from '../../src/cli/startup-summary.js';
import { NarBridgeError } from '../../src/errors.js';
import { buildServer, AccessTokens } from '../../src/http/index.js';
import { servedMemoryStore } from '../store/memory-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nb-startup-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('prepareDataDir creates a missing data dir and refuses a file', async () => {
  await prepareDataDir(path.join(dir, 'a', 'b'));
  await expect(storeWritable(path.join(dir, 'a', 'b'))).resolves.toBeUndefined();
  await writeFile(path.join(dir, 'file'), '');
  await expect(prepareDataDir(path.join(dir, 'file'))).rejects.toThrow(`data dir ${dir}/file is not a directory`);
});

test('storeWritable names the data dir when it is gone', async () => {
  const gone = path.join(dir, 'gone');
  const err: unknown = await storeWritable(gone).catch((e: unknown) => e);
  expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
  expect((err as Error).message).toBe(`data dir ${gone} is not writable: ${gone}`);
});

test('/readyz fails while the extra readiness check does, and recovers', async () => {
  let writable = false;
  const ready = async () => {
    if (!writable) throw new NarBridgeError('NB_ERR_STORAGE', 'data dir /x is not writable: /x/blobs');
  };
  const app = await buildServer({ store: servedMemoryStore(), priority: 40, ready });
  try {
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBeGreaterThanOrEqual(500);
    writable = true;
    const readyNow = await app.inject({ method: 'GET', url: '/readyz' });
    expect([readyNow.statusCode, readyNow.body]).toEqual([200, 'ready\n']);
  } finally {
    await app.close();
  }
});

test('token counts by scope, and tokens listed under both scopes', () => {
  const tokens = AccessTokens.parse('read aaaaaaaaaaaaaaaa\nwrite aaaaaaaaaaaaaaaa\nwrite bbbbbbbbbbbbbbbb\nread cccccccccccccccc\n');
  expect(tokens.counts()).toEqual({ read: 2, write: 2 });
  expect(tokens.listedAsBoth()).toBe(1);
  expect(AccessTokens.parse('read aaaaaaaaaaaaaaaa\nwrite bbbbbbbbbbbbbbbb\n').listedAsBoth()).toBe(0);
});

test('changedFrom lists only the leaves that differ, by dotted path', () => {
  const defaults = { a: 1, upload: { max: 2, nar: { depth: 3 } } };
  expect(changedFrom({ a: 1, upload: { max: 5, nar: { depth: 3 } } }, defaults)).toEqual({ 'upload.max': 5 });
  expect(changedFrom(defaults, defaults)).toEqual({});
});
