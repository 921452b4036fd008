// Blobs in S3 end to end: replicas keep Directories and PathInfos (and every index) in one PostgreSQL and blobs as
// pack objects in one bucket. Real Nix pushes through two replicas (NARs to one, narinfos to the other), and a third,
// started afterwards on an empty data dir, serves the closure: nothing needed lives on a replica's disk.
import http from 'node:http';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { describeS3, useTestBucket } from '../castore/s3-fixture.js';
import {
  cleanupE2E,
  disposeFixtures,
  httpRequest,
  inChroot,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  nixEnv,
  runNix,
  snapshotTree,
  startRecordingProxy,
  startServer,
} from './harness.js';
import { expectClosureFrom, pushSplit } from './replica-helpers.js';
import { startRelay } from './tcp-relay.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

/** Bytes in the spool packs under a data dir (what a replica has taken in and not yet uploaded). */
async function spooled(dataDir: string): Promise<number> {
  const files = await readdir(path.join(dataDir, 's3-spool'), { recursive: true }).catch(() => []);
  const sizes = await Promise.all(
    files
      .filter((f) => f.endsWith('.pack'))
      .map((f) =>
        stat(path.join(dataDir, 's3-spool', f)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

/** A GET as Nix sends it (no Accept-Encoding), its status and body as text. */
function plainGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (body += piece));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describeS3('nar-bridge on S3', () => {
  const bucket = useTestBucket('e2e');

  describePostgres('with PostgreSQL metadata', () => {
    const database = useTestDatabase('s3e2e');

    it('a closure pushed through two replicas is durable in S3 and served by a fresh third', async () => {
      // Servers inherit this environment: without the variable, only the server itself can keep the SDK quiet.
      delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
      const fx = await makeFixtures();
      const env = await nixEnv();
      const pg = await database.freshSchemaUrl();
      const s3 = bucket.freshUrl();
      const args = ['--directory-service-addr', pg, '--path-info-service-addr', pg, '--blob-service-addr', s3];
      const a = await startServer({ dataDir: await makeTempDir('s3-a'), extraArgs: args });
      const b = await startServer({ dataDir: await makeTempDir('s3-b'), extraArgs: args });

      // Each NAR goes to A and each narinfo PUT to B: B matches the narinfo against the upload A indexed.
      await pushSplit(a.url, b.url, fx, env);
      await expectClosureFrom(b.url, fx, env);
      await a.stop();
      await b.stop();

      const c = await startServer({ dataDir: await makeTempDir('s3-c'), extraArgs: args });
      await expectClosureFrom(c.url, fx, env);

      const schema = new URL(pg).searchParams.get('schema');
      const count = async (table: string) => (await database.sql(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0].n;
      expect(await count('object_packs')).toBeGreaterThan(0);
      expect(await count('object_pack_records')).toBeGreaterThan(0);
      const keys = await bucket.keys(`${new URL(s3).pathname.slice(1)}/packs/`);
      expect(keys.length).toBe(await count('object_packs'));
      expect(c.logs()).not.toMatch(/nbtestsecretkey|AWS_SECRET/);
      // The SDK's notice that its 2027 releases need Node 22 is not for a server's log (or for Node 20 users' eyes).
      for (const server of [a, b, c]) expect(server.logs()).not.toMatch(/NodeVersionSupportWarning|node >=22/);
    });

    it('a replica killed with -9 mid-push loses nothing committed; the retry through the other one succeeds', async () => {
      const fx = await makeFixtures();
      const env = await nixEnv();
      const large = await makeLargePath(24);
      const pg = await database.freshSchemaUrl();
      const s3 = bucket.freshUrl();
      const args = ['--directory-service-addr', pg, '--path-info-service-addr', pg, '--blob-service-addr', s3];
      const aDir = await makeTempDir('s3-kill-a');
      const a = await startServer({ dataDir: aDir, extraArgs: args });
      const b = await startServer({ dataDir: await makeTempDir('s3-kill-b'), extraArgs: args });
      await runNix(['copy', '--to', `${a.url}?secret-key=${fx.secretKeyFile}`, fx.dep], env);

      const push = runNix(['copy', '--to', `${a.url}?secret-key=${fx.secretKeyFile}&compression=none`, large], env, { expect: 'fail' });
      while ((await spooled(aDir)) < 4 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 10));
      await a.kill9();
      await push;

      await runNix(['copy', '--to', `${b.url}?secret-key=${fx.secretKeyFile}&compression=none`, large], env);
      const store = env.newStore();
      await runNix(['copy', '--from', b.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, large, fx.dep], env);
      for (const p of [large, fx.dep]) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
      // Every indexed object is in the bucket: nothing committed points at what the killed replica never uploaded.
      const schema = new URL(pg).searchParams.get('schema');
      const indexed = (await database.sql(`SELECT key FROM ${schema}.object_packs`)).rows.map((r) => `${new URL(s3).pathname.slice(1)}/${r.key}`);
      expect((await bucket.keys(`${new URL(s3).pathname.slice(1)}/`)).sort()).toEqual(expect.arrayContaining(indexed.sort()));
    }, 180_000);

    it('refuses uploads cleanly while S3 is away, answers reads with a one-line 500, and recovers by itself', async () => {
      const fx = await makeFixtures();
      const env = await nixEnv();
      const pg = await database.freshSchemaUrl();
      const relay = await startRelay(new URL(process.env.S3_ENDPOINT ?? ''));
      const s3 = new URL(bucket.freshUrl());
      s3.searchParams.set('endpoint', relay.url);
      const args = ['--directory-service-addr', pg, '--path-info-service-addr', pg, '--blob-service-addr', s3.href];
      const server = await startServer({ dataDir: await makeTempDir('s3-down'), extraArgs: args });
      try {
        await runNix(['copy', '--to', `${server.url}?secret-key=${fx.secretKeyFile}`, fx.dep], env);
        relay.cut();
        const proxy = await startRecordingProxy(server.url);
        const failed = await runNix(['copy', '--to', `${proxy.url}?secret-key=${fx.secretKeyFile}`, fx.tree], env, { expect: 'fail' });
        expect(failed.code).not.toBe(0);
        const puts = proxy.requests.filter((r) => r.method === 'PUT');
        expect(puts.length).toBeGreaterThan(0);
        for (const put of puts) expect(put.status, put.url).toBe(403);
        expect(failed.stderr).toMatch(/S3 .* failed/);

        const narinfo = await httpRequest('GET', `${server.url}/${fx.dep.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`);
        const narUrl = /URL: (\S+)/.exec(narinfo.body)?.[1];
        const nar = await plainGet(`${server.url}/${narUrl}`);
        expect(nar.status).toBe(500);
        expect(nar.body).toMatch(/^[^\n]*S3 [^\n]*failed[^\n]*\n?$/);

        relay.restore();
        await runNix(['copy', '--to', `${server.url}?secret-key=${fx.secretKeyFile}`, fx.tree], env);
        const store = env.newStore();
        await runNix(['copy', '--from', server.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, fx.tree, fx.dep], env);
        for (const p of [fx.tree, fx.dep]) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
      } finally {
        relay.restore();
      }
    }, 120_000);
  });
});
