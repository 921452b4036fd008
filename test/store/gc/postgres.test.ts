// GC of a store shared by replicas (PostgreSQL metadata, S3 pack objects), against the real services: each "replica"
// is its own set of services and pools over one schema and one bucket prefix.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import {
  openS3BlobService,
  PostgresDatabase,
  PostgresDirectoryService,
  PostgresPackObjectIndex,
  PostgresWriteFence,
  type BlobService,
  type S3BlobService,
} from '../../../src/castore/index.js';
import {
  collectPostgresGarbage,
  deletePostgresPaths,
  ingestNar,
  NarCalculator,
  PostgresBuildLogIndex,
  PostgresNarUploadIndex,
  PostgresPathInfoService,
  receiveNar,
  type PostgresGcTarget,
  type Store,
} from '../../../src/store/index.js';
import { describePostgres, useTestDatabase } from '../../castore/postgres-fixture.js';
import { describeS3, useTestBucket } from '../../castore/s3-fixture.js';
import { once, random, storePath, treeNar } from './fixture.js';

interface Replica {
  readonly store: Store & { readonly fence: PostgresWriteFence };
  readonly gc: PostgresGcTarget;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function replica(pgUrl: string, s3Url: string, fenced = true): Promise<Replica> {
  const db = await PostgresDatabase.open(new URL(pgUrl));
  const pathInfos = await PostgresPathInfoService.open(db);
  const directories = await PostgresDirectoryService.open(db);
  const narUploads = await PostgresNarUploadIndex.open(db);
  await PostgresBuildLogIndex.open(db);
  const spoolDir = await mkdtemp(join(tmpdir(), 'nb-pg-gc-'));
  const opened = await openS3BlobService(new URL(s3Url), { index: await PostgresPackObjectIndex.open(db), spoolDir: join(spoolDir, 'spool') });
  const blobs = opened.service as S3BlobService & BlobService;
  const fence = new PostgresWriteFence(db);
  const store = { blobs, directories, pathInfos, narUploads, fence };
  const r: Replica = {
    // Without the fence: what a replica would do if writers did not take it.
    store: fenced ? store : { ...store, fence: undefined as never },
    gc: { db, pathInfos, blobs, fence },
    close: async () => {
      await fence.close();
      opened.close();
      await db.close();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
  cleanups.push(r.close);
  return r;
}

async function push(store: Store, name: string, files: Record<string, Uint8Array | string>, references: string[] = []) {
  const path = storePath(name);
  const { node, narHash, narSize } = await ingestNar(once(treeNar(files)), store);
  await store.pathInfos.put({ storePath: path, node, narHash, narSize, references: references.map(storePath), signatures: [] });
  return path;
}

async function rendersToItsHash(store: Store, name: string): Promise<boolean> {
  const info = await store.pathInfos.get(storePath(name).digest);
  if (!info) return false;
  const facts = await new NarCalculator(store).calculate(info.node);
  return Buffer.from(facts.narSha256).equals(Buffer.from(info.narHash.digest));
}

describePostgres('GC on PostgreSQL and S3', () => {
  const database = useTestDatabase('pg_gc');
  describeS3('with S3 objects', () => {
    const bucket = useTestBucket('pg-gc');

    async function twoReplicas(fenced = true) {
      const pg = await database.freshSchemaUrl();
      const s3 = bucket.freshUrl();
      const prefix = `${new URL(s3).pathname.slice(1)}/`;
      return { a: await replica(pg, s3, fenced), b: await replica(pg, s3, fenced), objects: () => bucket.keys(prefix) };
    }

    test('deleting one of two closures sharing a dependency, then GC: its own objects leave the bucket, the other closure renders', async () => {
      const { a, b, objects } = await twoClosures();
      const before = await objects();
      await deletePostgresPaths(b.gc, [storePath('app-one').digest], false);
      const report = await collectPostgresGarbage(b.gc);
      expect(report).not.toHaveProperty('skipped');
      expect(report.packsRemoved).toBe(1);
      expect(report.records).toBeGreaterThan(0);
      const after = await objects();
      expect(after.length).toBe(before.length - 1);
      expect(await rendersToItsHash(a.store, 'app-two')).toBe(true);
      expect(await rendersToItsHash(a.store, 'lib')).toBe(true);
      expect(await a.store.pathInfos.get(storePath('app-one').digest)).toBeNull();
      // A second run finds nothing more.
      expect(await collectPostgresGarbage(a.gc)).toMatchObject({ records: 0, directories: 0, packsRemoved: 0 });

      async function twoClosures() {
        const replicas = await twoReplicas();
        await push(replicas.a.store, 'lib', { so: random(100_000) });
        // Each app in an object of its own (each push flushes its spool pack).
        await push(replicas.a.store, 'app-one', { bin: random(80_000), doc: 'one' }, ['lib']);
        await push(replicas.b.store, 'app-two', { bin: random(80_000), doc: 'two' }, ['lib']);
        return replicas;
      }
    });

    test('a GC on one replica waits for a push paused mid-write on another; without the fence the push ends broken', async () => {
      for (const fenced of [true, false]) {
        const { a, b } = await twoReplicas(fenced);
        const shared = random(300_000);
        await push(a.store, 'gone', { shared });
        await deletePostgresPaths(a.gc, [storePath('gone').digest], false);
        // Replica b pushes a NAR holding `shared` again: it deduplicates against the dead object, then stalls.
        const bytes = treeNar({ shared, mine: 'z' });
        let resume!: () => void;
        const stalled = new Promise<void>((resolve) => (resume = resolve));
        async function* slowBody() {
          yield bytes.subarray(0, bytes.length - 8);
          await stalled;
          yield bytes.subarray(bytes.length - 8);
        }
        const pushing = receiveNar(b.store, createHash('sha256').update(bytes).digest(), slowBody());
        await new Promise((resolve) => setTimeout(resolve, 300));
        const gc = collectPostgresGarbage(a.gc, { uploadGraceMs: 60_000 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        resume();
        const upload = await pushing;
        const report = await gc;
        const path = storePath('newcomer');
        await b.store.pathInfos.put({ storePath: path, node: upload.node, narHash: upload.narHash, narSize: upload.narSize, references: [], signatures: [] });
        const renders = await rendersToItsHash(a.store, 'newcomer').catch(() => false);
        expect({ fenced, renders }).toEqual({ fenced, renders: fenced });
        // It waited for the push (rather than giving up), then kept what the new upload record needs.
        if (fenced) expect(report).not.toHaveProperty('skipped');
      }
    });

    test('two GCs started at once: one runs, the other reports that one is running', async () => {
      const { a, b } = await twoReplicas();
      await push(a.store, 'p', { f: random(10_000) });
      const results = await Promise.allSettled([
        collectPostgresGarbage(a.gc, { afterMark: () => new Promise((resolve) => setTimeout(resolve, 300)) }),
        new Promise((resolve) => setTimeout(resolve, 100)).then(() => collectPostgresGarbage(b.gc)),
      ]);
      expect(results[0].status).toBe('fulfilled');
      expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'NB_ERR_CONFLICT' } });
      expect(await collectPostgresGarbage(b.gc)).toMatchObject({ records: 0 });
    });

    test("objects within the object grace stay though nothing refers to them yet (a gRPC client's PathInfo is coming)", async () => {
      const { a, objects } = await twoReplicas();
      const { node } = await ingestNar(once(treeNar({ f: random(20_000) })), a.store);
      expect(await collectPostgresGarbage(a.gc, { objectGraceMs: 60_000 })).toMatchObject({ records: 0, directories: 0 });
      expect(node.kind).toBe('directory');
      expect((await objects()).length).toBe(1);
      expect(await collectPostgresGarbage(a.gc, { objectGraceMs: 0 })).toMatchObject({ directories: 1, packsRemoved: 1 });
      expect(await objects()).toEqual([]);
    });
  });
});
