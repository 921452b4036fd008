// Store totals (`nar-bridge info`, the /metrics store gauges, the landing page) count what the configured services
// hold: with PathInfos and Directories in PostgreSQL and blobs in S3, every replica reports the whole shared store,
// even one whose data dir is empty.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openConfiguredStore } from '../../src/cli/configured-store.js';
import { infoCommand } from '../../src/cli/info.js';
import { StorePath } from '../../src/nix/index.js';
import { ingestNar, type Store } from '../../src/store/index.js';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { describeS3, useTestBucket } from '../castore/s3-fixture.js';
import { fileEntry, nar } from '../nar/nar-bytes.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-stats-'));
  dirs.push(dir);
  return dir;
}

/** Ingests a directory of `files` as a store path named `name`; returns its NarSize. */
async function addPath(store: Store, name: string, files: Record<string, Uint8Array | string>): Promise<number> {
  const names = Object.keys(files).sort();
  const bytes = nar('nix-archive-1', '(', 'type', 'directory', ...names.map((n) => fileEntry(n, files[n] as never)), ')');
  const { node, narHash, narSize } = await ingestNar(once(bytes), store);
  await store.blobs.flush();
  const storePath = StorePath.fromParts(createHash('sha256').update(name).digest().subarray(0, 20), name);
  await store.pathInfos.put({ storePath, node, narHash, narSize, references: [], signatures: [] });
  return narSize;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describeS3('store totals', () => {
  const bucket = useTestBucket('stats');

  it('count blobs in S3 from the object index in the data dir when the rest is embedded', async () => {
    const configured = await openConfiguredStore({ 'data-dir': await dataDir(), 'blob-service-addr': bucket.freshUrl() }, process.env);
    try {
      const contents = randomBytes(50_000);
      const narBytes = await addPath(configured.store, 'three', { file: contents });
      expect(await configured.stats()).toMatchObject({ pathInfos: 1, directories: 1, blobBytes: contents.byteLength, narBytes });
    } finally {
      configured.close();
    }
  });

  describePostgres('with PathInfos and Directories in PostgreSQL and blobs in S3', () => {
    const database = useTestDatabase('stats');

    it('count what PostgreSQL and the object index hold, the same from a replica with an empty data dir', async () => {
      const pg = await database.freshSchemaUrl();
      const services = { 'blob-service-addr': bucket.freshUrl(), 'directory-service-addr': pg, 'path-info-service-addr': pg };
      const shared = randomBytes(200_000);
      const a = await openConfiguredStore({ 'data-dir': await dataDir(), ...services }, process.env);
      let narBytes = 0;
      try {
        narBytes += await addPath(a.store, 'one', { big: shared, small: 'hello' });
        narBytes += await addPath(a.store, 'two', { copy: shared, tiny: 'x' });
      } finally {
        a.close();
      }

      const replica = await dataDir();
      const b = await openConfiguredStore({ 'data-dir': replica, ...services }, process.env);
      try {
        // Each distinct content once: the 200 kB file is kept once for both paths.
        expect(await b.stats()).toMatchObject({ pathInfos: 2, directories: 2, blobBytes: shared.byteLength + 6, narBytes });
        expect((await b.stats()).blobs).toBeGreaterThanOrEqual(3);
      } finally {
        b.close();
      }

      let stdout = '';
      const args = ['--json', '--data-dir', replica, ...Object.entries(services).flatMap(([flag, value]) => [`--${flag}`, value])];
      expect(await infoCommand(args, { env: process.env, stdout: (t) => (stdout += t) })).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ pathInfos: 2, directories: 2, blobBytes: shared.byteLength + 6, narBytes });
    }, 60_000);
  });
});
