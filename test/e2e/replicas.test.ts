// Identical replicas on one PostgreSQL and one S3 bucket, as the README's scaling-out example runs them: real Nix
// pushes through nginx round-robin and substitutes from each replica alone; with PostgreSQL taken away from a
// replica (through a relay: the server itself is shared), reads fail with 5xx, uploads are refused with a 4xx and a
// reason (never 5xx/202 on a PUT: Nix 2.8 hangs), and the replica serves again by itself once it is back.
import { afterAll, afterEach, expect, it } from 'vitest';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { describeS3, useTestBucket } from '../castore/s3-fixture.js';
import {
  cleanupE2E,
  disposeFixtures,
  handMadeUpload,
  hashPart,
  httpRequest,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runNix,
  snapshotTree,
  startRecordingProxy,
  startServer,
} from './harness.js';
import { startNginx } from './nginx.js';
import { expectClosureFrom } from './replica-helpers.js';
import { startRelay } from './tcp-relay.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

describeS3('replicas on S3', () => {
  const bucket = useTestBucket('replicas');

  describePostgres('and PostgreSQL', () => {
    const database = useTestDatabase('replicas');

    it('nix copy --to through nginx round-robin lands on both; each replica alone serves the closure', async () => {
      const fx = await makeFixtures();
      const env = await nixEnv();
      const pg = await database.freshSchemaUrl();
      const args = ['--directory-service-addr', pg, '--path-info-service-addr', pg, '--blob-service-addr', bucket.freshUrl()];
      const replicas = [
        await startServer({ dataDir: await makeTempDir('replica-a'), extraArgs: args }),
        await startServer({ dataDir: await makeTempDir('replica-b'), extraArgs: args }),
      ];
      const nginx = await startNginx(replicas.map((r) => r.url));

      await runNix(['copy', '--to', `${nginx.url}?secret-key=${fx.secretKeyFile}`, fx.y], env);
      const puts = (await nginx.requests()).filter((r) => r.method === 'PUT');
      expect(puts.map((r) => r.status)).toEqual([204, 204, 204, 204, 204, 204]);
      // Six PUTs (a NAR and a narinfo per path) alternate: both replicas took some, so NARs and their narinfos split.
      expect(new Set(puts.map((r) => r.upstream))).toEqual(new Set(replicas.map((r) => new URL(r.url).host)));

      for (const replica of replicas) {
        // Each replica's store gauges count the shared store (PostgreSQL, the object index), not its own data dir.
        const metrics = (await httpRequest('GET', `${replica.url}/metrics`)).body;
        expect(metrics).toMatch(/^nar_bridge_store_objects\{kind="path_infos"\} 3$/m);
        expect(metrics).toMatch(/^nar_bridge_store_objects\{kind="blobs"\} [1-9]/m);
        await expectClosureFrom(replica.url, fx, env);
      }
    }, 120_000);

    it('with PostgreSQL away, reads answer 5xx, uploads are refused with a 4xx and a reason, and service comes back by itself', async () => {
      const fx = await makeFixtures();
      const env = await nixEnv();
      const direct = new URL(await database.freshSchemaUrl());
      const relay = await startRelay(direct);
      const relayed = new URL(direct);
      relayed.port = String(relay.port);
      const args = ['--directory-service-addr', relayed.href, '--path-info-service-addr', relayed.href, '--blob-service-addr', bucket.freshUrl()];
      const server = await startServer({ dataDir: await makeTempDir('replica-pg-away'), extraArgs: args });
      try {
        await runNix(['copy', '--to', `${server.url}?secret-key=${fx.secretKeyFile}`, fx.dep], env);
        relay.cut();

        const unknown = await httpRequest('GET', `${server.url}/${'0'.repeat(32)}.narinfo`);
        expect(unknown.status).toBeGreaterThanOrEqual(500);
        expect(unknown.body).toMatch(/^PostgreSQL [^\n]* failed\n$/);
        // Never a 404 for a path the store holds: a client would take it as "not cached" and build it.
        const known = await httpRequest('GET', `${server.url}/${hashPart(fx.dep)}.narinfo`);
        expect(known.status === 200 || known.status >= 500, `narinfo of a stored path: ${known.status}`).toBe(true);
        expect((await httpRequest('GET', `${server.url}/readyz`)).status).toBeGreaterThanOrEqual(500);

        const upload = await handMadeUpload(fx, fx.tree);
        const narPut = await httpRequest('PUT', `${server.url}/nar/${upload.fileHash}.nar`, upload.nar, 'application/x-nix-nar');
        expect(narPut.status, narPut.body).toBeGreaterThanOrEqual(400);
        expect(narPut.status, narPut.body).toBeLessThan(500);
        expect(narPut.body).toMatch(/^PostgreSQL [^\n]* failed\n$/);
        const infoPut = await httpRequest('PUT', `${server.url}/${hashPart(fx.tree)}.narinfo`, upload.narInfo, 'text/x-nix-narinfo');
        expect(infoPut.status, infoPut.body).toBeGreaterThanOrEqual(400);
        expect(infoPut.status, infoPut.body).toBeLessThan(500);

        // Real Nix gives up (no hang) whatever it reaches: its narinfo lookups fail before any PUT, or the PUT is refused.
        const proxy = await startRecordingProxy(server.url);
        const failed = await runNix(['copy', '--to', `${proxy.url}?secret-key=${fx.secretKeyFile}`, fx.tree], env, { expect: 'fail' });
        expect(failed.code).not.toBe(0);
        expect(failed.stderr).toMatch(/PostgreSQL .* failed/);
        for (const put of proxy.requests.filter((r) => r.method === 'PUT')) expect(put.status, put.url).toBeLessThan(500);

        relay.restore();
        expect((await httpRequest('GET', `${server.url}/readyz`)).status).toBe(200);
        await runNix(['copy', '--to', `${server.url}?secret-key=${fx.secretKeyFile}`, fx.tree], env);
        const store = env.newStore();
        await runNix(['copy', '--from', server.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, fx.tree, fx.dep], env);
        for (const p of [fx.tree, fx.dep]) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
        expect(server.logs()).not.toMatch(/nbtestsecretkey/);
      } finally {
        relay.restore();
      }
    }, 180_000);
  });
});
