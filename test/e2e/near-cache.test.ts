// --cache-max-size end to end: B serves A's store over gRPC with a small near cache of A's blobs on its own disk.
// Real Nix pulls a closure several times the cache's size through B; B's near-cache directory stays under the cap
// the whole time, evicts, and every pull is byte-for-byte right (evicted blobs come from A again).
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import {
  NIX_DEFAULT_TIMEOUT_MS,
  cleanupE2E,
  disposeFixtures,
  freePort,
  httpRequest,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runNix,
  runNixTool,
  snapshotTree,
  startServer,
  writePseudoRandomFile,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CAP = 8 * 1024 * 1024;

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      total += (await stat(path.join(entry.parentPath, entry.name))).size;
    } catch {
      // evicted between the listing and the stat
    }
  }
  return total;
}

test('B with --cache-max-size 8M in front of A serves a 24 MiB closure right, twice, its cache dir never over 8 MiB', async () => {
  const fx = await makeFixtures();
  const env = await nixEnv();
  // 24 files of 1 MiB, each its own blob (an eighth of the cap: the largest the cache takes).
  const src = path.join(await makeTempDir('near-src'), 'big');
  await mkdir(src);
  await Promise.all(Array.from({ length: 24 }, (_, i) => writePseudoRandomFile(path.join(src, `f${i}`), 1024 * 1024, `near cache ${i}`)));
  const big = (await runNixTool('nix-store', ['--add', src], fx.env, { timeoutMs: 3 * NIX_DEFAULT_TIMEOUT_MS })).stdout.trim();

  const grpcPort = await freePort();
  const a = await startServer({ dataDir: await makeTempDir('near-a'), extraArgs: ['--grpc-listen', `127.0.0.1:${grpcPort}`] });
  const closure = [big, fx.y, fx.deptree, fx.dep, fx.hello];
  await runNix(['copy', '--to', `${a.url}?secret-key=${fx.secretKeyFile}`, ...closure], fx.env, { timeoutMs: 3 * NIX_DEFAULT_TIMEOUT_MS });

  const bDataDir = await makeTempDir('near-b');
  const serviceUrl = `grpc+http://127.0.0.1:${grpcPort}`;
  const b = await startServer({
    dataDir: bDataDir,
    extraArgs: [
      ...['--blob-service-addr', serviceUrl, '--directory-service-addr', serviceUrl, '--path-info-service-addr', serviceUrl],
      ...['--cache-max-size', '8M', '--log-format', 'json'],
    ],
  });
  expect(b.logRecords().find((r) => r.msg === 'nar-bridge listening')).toMatchObject({
    store: { blobCache: { dir: path.join(bDataDir, 'near-cache'), maxBytes: CAP } },
  });

  const cacheDir = path.join(bDataDir, 'near-cache');
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await duBytes(cacheDir));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    for (let round = 0; round < 2; round++) {
      const store = env.newStore();
      await runNix(['copy', '--from', b.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, ...closure], env, {
        timeoutMs: 3 * NIX_DEFAULT_TIMEOUT_MS,
      });
      for (const p of closure) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
    }
  } finally {
    sampling = false;
    await sampler;
  }
  expect(peak).toBeGreaterThan(CAP / 2); // it did cache
  expect(peak).toBeLessThanOrEqual(CAP);
  const metrics = (await httpRequest('GET', `${b.url}/metrics`)).body;
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  expect(value('nar_bridge_near_cache_evictions_total')).toBeGreaterThan(0);
  expect(value('nar_bridge_near_cache_evicted_bytes_total')).toBeGreaterThan(CAP);
  expect(value('nar_bridge_near_cache_bytes')).toBeLessThanOrEqual(CAP);
}, 600_000);
