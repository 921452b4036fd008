// Stateless replicas end to end: two nar-bridge servers keep Directories and PathInfos (and the upload and build-log
// indexes) in one PostgreSQL and blobs in one shared directory. Real Nix pushes through both (NARs to one, narinfos to
// the other) and substitutes from the second.
import path from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { cleanupE2E, disposeFixtures, makeFixtures, makeTempDir, nixEnv, startServer } from './harness.js';
import { expectClosureFrom, pushSplit } from './replica-helpers.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

describePostgres('nar-bridge on PostgreSQL', () => {
  const database = useTestDatabase('e2e');

  it('a closure pushed through two replicas is substituted from one', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const withPassword = new URL(await database.freshSchemaUrl());
    withPassword.password ||= 'e2e-password-never-logged'; // the test server trusts loopback and ignores it
    const url = withPassword.href;
    const blobs = `local://${path.join(await makeTempDir('pg-blobs'), 'blobs')}`;
    const args = ['--directory-service-addr', url, '--path-info-service-addr', url, '--blob-service-addr', blobs];
    const a = await startServer({ dataDir: await makeTempDir('pg-a'), extraArgs: args });
    const b = await startServer({ dataDir: await makeTempDir('pg-b'), extraArgs: args });

    // Each NAR goes to A and each narinfo PUT to B: B matches the narinfo against the upload A indexed.
    await pushSplit(a.url, b.url, fx, env);
    await expectClosureFrom(b.url, fx, env);

    const schema = new URL(url).searchParams.get('schema');
    const count = async (table: string) => (await database.sql(`SELECT count(*)::int AS n FROM ${schema}.${table}`)).rows[0].n;
    expect(await count('path_infos')).toBe(3);
    expect(await count('nar_uploads')).toBeGreaterThanOrEqual(3);
    expect(await count('castore_directories')).toBeGreaterThan(0);
    for (const server of [a, b]) expect(server.logs()).not.toContain(withPassword.password);
  });
});
