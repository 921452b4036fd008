// Issue 14 under serve --workers 2: a background GC (whichever worker's turn it is) races concurrent `nix copy --to`
// of closures deduplicating against what is being deleted, on both workers; `nar-bridge gc` runs beside the live
// server while pushes go on; a tvix gRPC client's blob waits for its PathInfo through GC runs (object grace). Every
// PathInfo left must render to its NarHash, and the closures must substitute.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, expect, test, vi } from 'vitest';
import { GrpcBlobService, GrpcConnection, grpcEndpointFromUrl } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { GrpcPathInfoService } from '../../src/store/index.js';
import { cleanupE2E, disposeFixtures, freePort, hashPart, httpRequest, makeFixtures, makeLargePath, makeTempDir, nixEnv, startServer } from './harness.js';
import { cli, push, pushRacingSweep, substitutes } from './gc-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('two workers: pushes sharing objects with paths being deleted race the background GC and never leave a broken path', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(3);
  const dataDir = await makeTempDir('gc-workers');
  // One Nix environment (narinfo cache database) per concurrent client: Nix's own cache does not take concurrent copies.
  const [a, b, c] = await Promise.all([nixEnv(), nixEnv(), nixEnv()]);
  const server = await startServer({
    dataDir,
    extraArgs: ['--workers', '2', '--gc-interval', '1s', '--gc-upload-grace', '0s'],
  });
  for (let round = 0; round < 5; round++) {
    await Promise.all([pushRacingSweep(server.url, fx.y, a), pushRacingSweep(server.url, large, b)]);
    // Delete y's closure (dep recursively takes x, if pushed, too) and the large path while x, y and the large path
    // are pushed again: the pushes deduplicate against objects that just became unreachable, on either worker.
    const deletes = (async () => {
      await sleep(round * 150);
      for (const p of [fx.dep, large]) {
        const res = await httpRequest('DELETE', `${server.url}/${hashPart(p)}.narinfo?recursive=1`);
        expect([200, 404]).toContain(res.status);
      }
    })();
    await Promise.all([deletes, pushRacingSweep(server.url, fx.x, a), pushRacingSweep(server.url, fx.y, b), pushRacingSweep(server.url, large, c)]);
  }
  await sleep(1500); // a GC or two more after the last push
  const runs = server.logRecords().filter((r) => r.msg === 'garbage collection done');
  expect(runs.length).toBeGreaterThan(1);
  expect(runs.some((r) => Number(r.records) > 0)).toBe(true); // they did reclaim something while pushes went on
  // Every path left renders to its NarHash, checked beside the live server.
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  // Whatever the deletions took is pushed once more, and the closures then substitute whole.
  for (const p of [fx.x, fx.y, large]) await pushRacingSweep(server.url, p, fx.env);
  for (const p of [fx.x, fx.y, fx.dep, fx.deptree, large]) expect(await substitutes(server.url, p, fx.env)).toBe(true);
  const metrics = await httpRequest('GET', `${server.url}/metrics`);
  expect(metrics.body).toMatch(/nar_bridge_gc_runs_total\{outcome="ok"\} [1-9]/);
  expect(metrics.body).not.toMatch(/nar_bridge_gc_runs_total\{outcome="failed"\} [1-9]/);
  await server.stop();
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
}, 240_000);

test('nar-bridge gc beside a live two-worker server while pushes go on, and through it (--server): it runs, and nothing breaks', async () => {
  const fx = await makeFixtures();
  const large = await makeLargePath(3);
  const dataDir = await makeTempDir('gc-beside');
  const [a, b] = await Promise.all([nixEnv(), nixEnv()]);
  const server = await startServer({ dataDir, extraArgs: ['--workers', '2'] });
  await push(server.url, large, fx.env);
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  // No gRPC client writes here, so objects need no grace (beside a live server it is 1 h by default).
  const gcs = (async () => {
    const reports: Array<{ records: number }> = [];
    for (let i = 0; i < 3; i++)
      reports.push(JSON.parse((await cli(['gc', '--json', '--gc-object-grace', '0s', '--data-dir', dataDir])).stdout) as { records: number });
    return reports;
  })();
  await Promise.all([pushRacingSweep(server.url, fx.y, a), pushRacingSweep(server.url, fx.x, b), gcs]);
  expect((await gcs).reduce((sum, r) => sum + r.records, 0)).toBeGreaterThan(0); // the deleted large path's chunks
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  for (const p of [fx.x, fx.y, fx.dep, fx.deptree]) expect(await substitutes(server.url, p, fx.env)).toBe(true);
  // Through the server instead (POST /admin/gc, run by whichever worker answers, with the server's settings).
  await push(server.url, large, fx.env);
  expect((await httpRequest('DELETE', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(200);
  const remote = JSON.parse((await cli(['gc', '--server', server.url, '--json'])).stdout) as { records: number; packsRemoved: number };
  expect(remote.records).toBeGreaterThan(0);
  expect(server.logRecords().some((r) => r.msg === 'garbage collection done' && r.component === 'gc')).toBe(true);
  expect((await cli(['verify', '--data-dir', dataDir])).code).toBe(0);
  await server.stop();
}, 180_000);

/**
 * A tvix client puts a blob, and its PathInfo only after the background GC ran twice: with --grpc-listen the object
 * grace period (1 h by default) keeps the blob, so the put succeeds; with --gc-object-grace 0s the blob was swept and
 * the put is refused (never a PathInfo pointing at nothing).
 */
test.each([
  ['the default object grace', [], true],
  ['--gc-object-grace 0s', ['--gc-object-grace', '0s'], false],
] as const)(
  'a gRPC client putting its blob and its PathInfo in separate calls, GC running between: %s',
  async (_what, flags, kept) => {
    const grpcPort = await freePort();
    const server = await startServer({
      dataDir: await makeTempDir('gc-grpc'),
      extraArgs: ['--workers', '2', '--grpc-listen', `127.0.0.1:${grpcPort}`, '--gc-interval', '1s', '--gc-upload-grace', '0s', ...flags],
    });
    const connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${grpcPort}`)));
    try {
      const bytes = randomBytes(100_000);
      const writer = new GrpcBlobService(connection).openWrite();
      await writer.write(bytes);
      const node = { kind: 'file', digest: await writer.close(), size: bytes.length, executable: false } as const;
      const pathInfos = new GrpcPathInfoService(connection);
      const facts = await pathInfos.calculateNar(node);
      const written = Date.now();
      // Two runs that started after the blob was flushed (within 2 s of its write) and could have swept it.
      await vi.waitFor(
        () => {
          const runs = server.logRecords().filter((r) => r.msg === 'garbage collection done' && Number(r.time) > written + 2500);
          if (runs.length < 2) throw new Error('waiting for two GC runs');
        },
        { timeout: 15_000, interval: 200 },
      );
      const storePath = StorePath.parseBasename('7r1prhqk1w9qykcclfckkcww64ax9341-late-pathinfo');
      const info = { storePath, node, references: [], narHash: NixHash.fromDigest('sha256', facts.narSha256), narSize: facts.narSize, signatures: [] };
      const put = await pathInfos.put(info).then(
        () => 'stored',
        (err: unknown) => String(err),
      );
      if (kept) expect(put).toBe('stored');
      else expect(put).toMatch(/not stored|missing/i);
      expect((await httpRequest('GET', `${server.url}/${storePath.hashPart}.narinfo`)).status).toBe(kept ? 200 : 404);
    } finally {
      connection.close();
      await server.stop();
    }
  },
  60_000,
);
