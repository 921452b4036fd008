// End-to-end: push, then pull from the same machine with Nix's narinfo cache at its defaults. After `nix copy --to`,
// Nix keeps the narinfo it uploaded (URL nar/<filehash>.nar<ext>, its Compression) for 30 days and later fetches that
// URL instead of asking for the narinfo (nix-http-protocol.md §7). Regression: those URLs answered 404, so every
// pull after a push failed with "file 'nar/….nar.xz' does not exist in binary cache".
import { createHash } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixBase32,
  nixEnv,
  pathInfo,
  runNix,
  runNixTool,
  snapshotTree,
  startRecordingProxy,
  startServer,
  writePseudoRandomFile,
  type RecordingProxy,
} from './harness.js';

/** `compression=` → the extension Nix 2.8 gives the NAR URL (doc §2.2: gzip has none). */
const COMPRESSIONS = [
  ['none', ''],
  ['xz', '.xz'],
  ['zstd', '.zst'],
  ['bzip2', '.bz2'],
  ['br', '.br'],
  ['gzip', ''],
] as const;

/** Bigger than every stored-mode block (64 KiB xz/gzip chunks, 128 KiB zstd blocks), so several are framed. */
const BIG_FILE_BYTES = 300 * 1024 + 7;

let proxy: RecordingProxy;
const paths = new Map<string, string>();

beforeAll(async () => {
  const fx = await makeFixtures();
  const server = await startServer({ dataDir: await makeTempDir('data') });
  proxy = await startRecordingProxy(server.url);
  // One content-addressed path per compression: a path already on the server is not uploaded again, and then the
  // client would cache the server's own narinfo instead of the one it pushed.
  for (const [compression] of COMPRESSIONS) {
    const dir = path.join(fx.dir, 'src', `push-pull-${compression}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'name.txt'), `pushed with ${compression}\n`);
    await writeFile(path.join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(path.join(dir, 'empty'), '');
    await symlink('run.sh', path.join(dir, 'link'));
    await writePseudoRandomFile(path.join(dir, 'big.bin'), BIG_FILE_BYTES, `push-pull ${compression}`);
    paths.set(compression, (await runNixTool('nix-store', ['--add', dir], fx.env)).stdout.trim());
  }
});

afterAll(async () => {
  await cleanupE2E();
  await disposeFixtures();
});

describe('pull after push, one client cache at its default TTLs', () => {
  test.each(COMPRESSIONS)('compression=%s', async (compression, ext) => {
    const storePath = paths.get(compression) ?? '';
    const env = await nixEnv('defaults');
    await runNix(['copy', '--to', `${proxy.url}?compression=${compression}`, storePath], env);

    // The client answers from the narinfo it pushed, not from ours (which names nar/tvix-castore/…).
    const cached = await pathInfo(storePath, env, proxy.url);
    const url = cached.url ?? '';
    expect(url).toMatch(new RegExp(`^nar/[0-9a-df-np-sv-z]{52}\\.nar${ext.replace('.', '\\.')}$`));
    const before = proxy.requests.length;

    const copied = env.newStore();
    await runNix(['copy', '--from', proxy.url, '--to', copied, storePath], env);
    expect(await snapshotTree(inChroot(copied, storePath))).toEqual(await snapshotTree(storePath));

    const substituted = env.newStore();
    await runNixTool('nix-store', ['--store', substituted, '-r', storePath, '--option', 'substituters', proxy.url], env);
    expect(await snapshotTree(inChroot(substituted, storePath))).toEqual(await snapshotTree(storePath));

    // Both pulls fetched the pushed URL (and no narinfo).
    const pulls = proxy.requests.slice(before);
    expect(pulls.filter((r) => r.url.endsWith('.narinfo'))).toEqual([]);
    expect(pulls.filter((r) => r.method === 'GET' && r.url === `/${url}`).map((r) => r.status)).toEqual([200, 200]);
    // What we serve there is re-framed, not the uploaded file (FileHash): Nix checks the NarHash of what it
    // decompresses, which is why the pulls above succeeded. Only a raw NAR is the same file.
    const served = Buffer.from(await (await fetch(`${proxy.url}/${url}`)).arrayBuffer());
    const fileHash = /^nar\/(\w{52})/.exec(url)?.[1];
    expect(nixBase32(createHash('sha256').update(served).digest()) === fileHash).toBe(compression === 'none');
  });
});
