// Issues 14 and 15: two replicas on one PostgreSQL and one S3 bucket, each running the background GC (one run at a
// time across them, by an advisory lock), while real Nix pushes through both closures that deduplicate against paths
// being deleted through the other. Every path a replica still has a narinfo for must substitute from either replica.
import { afterAll, afterEach, expect, it } from 'vitest';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { describeS3, useTestBucket } from '../castore/s3-fixture.js';
import { cleanupE2E, disposeFixtures, hashPart, httpRequest, makeFixtures, makeLargePath, makeTempDir, nixEnv, startServer } from './harness.js';
import { pushRacingSweep, substitutes } from './gc-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeS3('GC on replicas', () => {
  const bucket = useTestBucket('gc-replicas');

  describePostgres('over PostgreSQL', () => {
    const database = useTestDatabase('gc_replicas');

    it('pushes through both race deletions and background GCs on both, and never leave a path that does not substitute', async () => {
      const fx = await makeFixtures();
      const large = await makeLargePath(3);
      const [a, b, c] = await Promise.all([nixEnv(), nixEnv(), nixEnv()]);
      const pg = await database.freshSchemaUrl();
      const args = [
        ...['--directory-service-addr', pg, '--path-info-service-addr', pg, '--blob-service-addr', bucket.freshUrl()],
        ...['--workers', '1', '--gc-interval', '1s', '--gc-upload-grace', '5s', '--gc-object-grace', '0s'],
      ];
      const replicas = [
        await startServer({ dataDir: await makeTempDir('gc-replica-a'), extraArgs: args }),
        await startServer({ dataDir: await makeTempDir('gc-replica-b'), extraArgs: args }),
      ];
      const [one, two] = replicas.map((r) => r.url) as [string, string];
      for (let round = 0; round < 4; round++) {
        await Promise.all([pushRacingSweep(one, fx.y, a), pushRacingSweep(two, large, b)]);
        const deletes = (async () => {
          await sleep(round * 200);
          for (const p of [fx.dep, large]) {
            const res = await httpRequest('DELETE', `${round % 2 === 0 ? one : two}/${hashPart(p)}.narinfo?recursive=1`);
            expect([200, 404]).toContain(res.status);
          }
        })();
        await Promise.all([deletes, pushRacingSweep(two, fx.x, a), pushRacingSweep(one, fx.y, b), pushRacingSweep(two, large, c)]);
      }
      await sleep(2500); // a GC or two more on each after the last push
      const runs = replicas.flatMap((r) => r.logRecords().filter((rec) => rec.msg === 'garbage collection done'));
      expect(runs.length).toBeGreaterThan(1);
      expect(runs.some((r) => Number(r.records) > 0)).toBe(true);

      // The invariant: whatever has a narinfo is whole, through either replica.
      for (const p of [fx.x, fx.y, fx.dep, fx.deptree, large]) {
        const held = (await httpRequest('GET', `${one}/${hashPart(p)}.narinfo`)).status === 200;
        if (!held) continue;
        for (const url of [one, two]) expect(await substitutes(url, p, fx.env), `${p} through ${url}`).toBe(true);
      }
      // What the deletions took is pushed once more and then substitutes whole.
      for (const p of [fx.x, fx.y, large]) await pushRacingSweep(one, p, fx.env);
      for (const p of [fx.x, fx.y, fx.dep, fx.deptree, large]) expect(await substitutes(two, p, fx.env), p).toBe(true);
      for (const replica of replicas) {
        const metrics = (await httpRequest('GET', `${replica.url}/metrics`)).body;
        expect(metrics).not.toMatch(/nar_bridge_gc_runs_total\{outcome="failed"\} [1-9]/);
      }
    }, 300_000);
  });
});
