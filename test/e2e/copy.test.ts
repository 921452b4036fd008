// `nar-bridge copy` with real parts: real Nix pushes a closure into a server over an embedded data dir; the copy goes
// into a fresh data dir (killed midway and run again) and into PostgreSQL Directories and PathInfos; a server over
// each target serves the closure to a fresh Nix store; a damaged source blob fails its path only, naming it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { packFileName, RECORD_HEADER_BYTES } from '../../src/castore/blob/pack/format.js';
import { openLocalStore } from '../../src/cli/open-store.js';
import { StorePath } from '../../src/nix/index.js';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import {
  NIX_DEFAULT_TIMEOUT_MS,
  REPO_ROOT,
  cleanupE2E,
  disposeFixtures,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runCommand,
  runNix,
  runNixTool,
  snapshotTree,
  startServer,
  writePseudoRandomFile,
  type Fixtures,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

interface Summary {
  readonly paths: number;
  readonly present: number;
  readonly blobs: number;
  readonly failed: string[];
}

/** A data dir holding `closure` (plus `extra` paths of 1 MiB each), pushed by real Nix through a server since stopped. */
async function sourceStore(fx: Fixtures, extra = 0): Promise<{ dataDir: string; paths: string[] }> {
  const paths = [fx.y, fx.deptree, fx.dep, fx.x, fx.tree, fx.hello];
  if (extra > 0) {
    const src = await makeTempDir('copy-files');
    const files = Array.from({ length: extra }, (_, i) => path.join(src, `blob-${i}`));
    await Promise.all(files.map((file, i) => writePseudoRandomFile(file, 1024 * 1024, `copy ${i}`)));
    paths.push(...(await runNixTool('nix-store', ['--add', ...files], fx.env, { timeoutMs: NIX_DEFAULT_TIMEOUT_MS })).stdout.trim().split('\n'));
  }
  const dataDir = await makeTempDir('copy-src');
  const a = await startServer({ dataDir });
  await runNix(['copy', '--to', `${a.url}?secret-key=${fx.secretKeyFile}`, ...paths], fx.env, { timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
  await a.stop();
  return { dataDir, paths };
}

function copy(fx: Fixtures, ...args: string[]) {
  return runCommand(process.execPath, [CLI, 'copy', '--json', ...args], fx.env.env, { expect: 'any', timeoutMs: 120_000 });
}

/** Serves `args`' store and substitutes `paths` from it into a fresh store, signatures required; compares every file. */
async function serveAndPull(
  fx: Fixtures,
  dataDir: string,
  extraArgs: readonly string[],
  paths: readonly string[],
  whileServing: () => Promise<void> = async () => undefined,
): Promise<void> {
  const env = await nixEnv();
  const server = await startServer({ dataDir, extraArgs });
  await whileServing();
  const store = env.newStore();
  await runNix(['copy', '--from', server.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, ...paths], env, {
    timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
  });
  for (const p of paths) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
  await server.stop();
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [])) total += (await stat(path.join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

test('copy into a fresh data dir, killed midway, resumes with only what is left, and the target serves the closure', async () => {
  const fx = await makeFixtures();
  const { dataDir, paths } = await sourceStore(fx, 24);
  const target = path.join(await makeTempDir('copy-dst'), 'store');

  // Killed once the target holds some packed bytes: mid-copy, as a crash or ^C would leave it.
  const child = spawn(process.execPath, [CLI, 'copy', '--from', dataDir, '--to', target], { env: fx.env.env, stdio: 'ignore' });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  while (child.exitCode === null && (await dirBytes(path.join(target, 'packs'))) < 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  const [, signal] = await exited;
  expect(signal, 'the first copy finished before it could be interrupted').toBe('SIGKILL');

  const rerun = await copy(fx, '--from', dataDir, '--to', target);
  expect(rerun.code, rerun.stderr).toBe(0);
  const summary = JSON.parse(rerun.stdout) as Summary;
  expect(summary.present).toBeGreaterThan(0);
  expect(summary.paths).toBeGreaterThan(0);
  expect(summary.present + summary.paths).toBe(paths.length);
  expect(rerun.stderr).toMatch(new RegExp(`copy: ${paths.length} paths in the source, ${summary.present} already in the target`));

  const again = JSON.parse((await copy(fx, '--from', dataDir, '--to', target)).stdout) as Summary;
  expect(again).toMatchObject({ paths: 0, present: paths.length, blobs: 0 });
  await serveAndPull(fx, target, [], paths, async () => {
    // Served now: copying into its data dir from the side is refused (its collector fences its own writes only).
    const beside = await copy(fx, '--from', dataDir, '--to', target);
    expect(beside.code).toBe(1);
    expect(beside.stderr).toMatch(/a server \(pid \d+\) has this data dir open: stop it, or copy into it through its gRPC address/);
  });
}, 240_000);

describePostgres('copy into PostgreSQL', () => {
  const database = useTestDatabase('copy');

  test('a data dir copied into PostgreSQL Directories and PathInfos (blobs in a data dir) serves the closure', async () => {
    const fx = await makeFixtures();
    const { dataDir, paths } = await sourceStore(fx);
    const url = await database.freshSchemaUrl();
    const target = await makeTempDir('copy-pg');
    const result = await copy(fx, '--from', dataDir, '--to', target, '--to', `directories=${url}`, '--to', `path-infos=${url}`);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ paths: paths.length, present: 0, failed: [] });
    const schema = new URL(url).searchParams.get('schema');
    const count = async (table: string) => (await database.sql(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0].n;
    expect(await count('path_infos')).toBe(paths.length);
    await serveAndPull(fx, target, ['--directory-service-addr', url, '--path-info-service-addr', url], paths);
  }, 240_000);
});

test('a damaged source blob fails its path (and what refers to it) with a line naming it; the rest is copied', async () => {
  const fx = await makeFixtures();
  const { dataDir, paths } = await sourceStore(fx);
  // Flip a byte of dep.txt's blob in its pack: y refers to dep, so y cannot be copied whole either.
  const source = await openLocalStore(dataDir);
  const info = await source.store.pathInfos.get(StorePath.parseAbsolute(fx.dep).digest);
  if (info?.node.kind !== 'file') throw new Error('dep.txt is not a file node');
  const place = source.packs?.index.record(info.node.digest);
  source.close();
  if (!place) throw new Error('dep blob not in a pack');
  const pack = path.join(dataDir, 'packs', packFileName(place.pack));
  const bytes = await readFile(pack);
  const at = place.offset + RECORD_HEADER_BYTES + 2;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
  await writeFile(pack, bytes);

  const target = path.join(await makeTempDir('copy-bad'), 'store');
  await mkdir(target);
  const result = await copy(fx, '--from', dataDir, '--to', target);
  expect(result.code).toBe(1);
  const summary = JSON.parse(result.stdout) as Summary;
  expect(summary.paths).toBe(paths.length - 3); // dep, x and y
  expect(result.stderr).toContain(`copy: not copied: ${fx.dep}: blob ${info.node.digest.toHex()} cannot be read from the source`);
  expect(result.stderr).toContain(`copy: not copied: ${fx.y}: refers to ${fx.dep}, which was not copied`);
  const copied = await openLocalStore(target);
  try {
    for (const p of [fx.dep, fx.x, fx.y]) expect(await copied.store.pathInfos.get(StorePath.parseAbsolute(p).digest), p).toBeNull();
    for (const p of [fx.tree, fx.hello, fx.deptree]) expect(await copied.store.pathInfos.get(StorePath.parseAbsolute(p).digest), p).not.toBeNull();
  } finally {
    copied.close();
  }
}, 240_000);
