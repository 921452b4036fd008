// Tiered composition end to end: B's --composition puts A (another nar-bridge, over tvix gRPC) behind B's embedded
// store as the far tier. Real Nix substitutes from B; with A stopped, B serves what it fetched from near alone.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  freePort,
  httpRequest,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runNix,
  snapshotTree,
  startServer,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

test('near embedded + far gRPC: the first pull fills near; with far stopped the second is served from near', async () => {
  const fx = await makeFixtures();
  const env = await nixEnv();
  const grpcPort = await freePort();
  const far = await startServer({ dataDir: await makeTempDir('tier-far'), extraArgs: ['--grpc-listen', `127.0.0.1:${grpcPort}`] });
  const farUrl = `grpc+http://127.0.0.1:${grpcPort}`;
  const compositionFile = path.join(await makeTempDir('tier-conf'), 'composition.toml');
  await writeFile(compositionFile, `[blobs]\nfar = "${farUrl}"\n[directories]\nfar = "${farUrl}"\n[path_infos]\nfar = "${farUrl}"\n`);
  const near = await startServer({ dataDir: await makeTempDir('tier-near'), extraArgs: ['--composition', compositionFile] });
  const closure = [fx.y, fx.deptree, fx.dep];
  await runNix(['copy', '--to', `${far.url}?secret-key=${fx.secretKeyFile}`, fx.y], env);

  const pull = async () => {
    const store = env.newStore();
    await runNix(['copy', '--from', near.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, fx.y], env);
    for (const p of closure) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
  };
  await pull();
  const afterFirst = (await httpRequest('GET', `${near.url}/metrics`)).body;
  expect(afterFirst).toMatch(/nar_bridge_tier_reads_total\{service="path_infos",tier="far"\} 3/);

  await far.stop();
  await pull();
  const afterSecond = (await httpRequest('GET', `${near.url}/metrics`)).body;
  // No new far reads: everything the second pull needed was near.
  const farReads = (text: string) =>
    [...text.matchAll(/nar_bridge_tier_reads_total\{service="[a-z_]+",tier="far"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  expect(farReads(afterSecond)).toBe(farReads(afterFirst));
  console.info(
    `tiers e2e metrics:\n${afterSecond
      .split('\n')
      .filter((l) => l.startsWith('nar_bridge_tier') || l.startsWith('nar_bridge_far'))
      .join('\n')}`,
  );
});
