// Chunked blob storage end to end: real Nix pushes two large store paths that differ in a few bytes; the embedded
// store keeps little more than one copy, and both substitute back byte for byte.
import { readFile, writeFile } from 'node:fs/promises';
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
  runCommand,
  runNix,
  runNixTool,
  snapshotTree,
  startServer,
  writePseudoRandomFile,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');
const FILE_BYTES = 16 * 1024 * 1024;

test('two pushes of a 16 MiB file differing in three bytes store about one copy; both substitute back', async () => {
  const fx = await makeFixtures();
  const src = await makeTempDir('chunk-src');
  const first = path.join(src, 'big-a.bin');
  const second = path.join(src, 'big-b.bin');
  await writePseudoRandomFile(first, FILE_BYTES, 'nar-bridge e2e chunking');
  const edited = await readFile(first);
  for (const at of [100, 8_000_000, FILE_BYTES - 100]) edited.writeUInt8(edited.readUInt8(at) ^ 0xff, at);
  await writeFile(second, edited);
  const paths = [];
  for (const file of [first, second]) paths.push((await runNixTool('nix-store', ['--add', file], fx.env)).stdout.trim());

  const dataDir = await makeTempDir('chunk-data');
  const server = await startServer({ dataDir });
  const env = await nixEnv();
  // Uncompressed: xz of 32 MiB of random bytes would dominate the test's time.
  for (const p of paths) await runNix(['copy', '--to', `${server.url}?compression=none`, p], env);
  const store = env.newStore();
  await runNix(['copy', '--from', server.url, '--to', store, '--option', 'require-sigs', 'false', ...paths], env);
  for (const p of paths) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
  await server.stop();

  const info = JSON.parse((await runCommand(process.execPath, [CLI, 'info', '--json', '--data-dir', dataDir], fx.env.env)).stdout) as Record<string, number>;
  console.info(`chunking e2e: NAR bytes ${info.narBytes}, blob bytes kept ${info.blobBytes}, ${info.blobs} blobs, dedup ratio ${info.dedupRatio}`);
  expect(info.blobBytes).toBeLessThan(FILE_BYTES * 1.1);
  expect(info.dedupRatio).toBeGreaterThan(1.8);
});
