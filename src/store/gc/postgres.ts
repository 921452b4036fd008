// Garbage collection of a store shared by replicas: PathInfos, Directories, upload records, build logs and the index of
// S3 pack objects in one PostgreSQL schema, blobs in S3 pack objects.
//
// One GC at a time across replicas: a run holds a session-level advisory lock (GC_LOCK_CLASS, the schema) for its whole
// length; a replica that cannot take it at once reports "another garbage collection is running" and skips.
// Safety against pushes on any replica: mark and sweep run inside PostgresWriteFence.exclusive, while every referencing
// write (NAR ingest with its upload record, PathInfo put with its stored-root re-check, an S3 pack's index commit)
// holds the fence shared; see postgres-fence.ts. The roots are those of the embedded store's GC (collect.ts): every
// PathInfo, upload records claimed by one or unclaimed within the upload grace, build logs, and the Directories and
// pack objects written within the object grace (a gRPC client's objects before its PathInfo); times are the
// database server's, so replicas' clocks do not matter.
// The sweep deletes Directories, pack records (their live bytes taken off their objects), chunk lists and stale upload
// records in one transaction; then, still fenced, every pack object no record lives in any more is deleted from the
// bucket and then from the index. A kill -9 anywhere leaves the old or the new rows, and objects without records
// that the next run deletes. Retention (--gc-max-size/--gc-max-age) and pins are not supported here (refused by the CLI).
import {
  B3Digest,
  bytesColumn,
  decodeChunks,
  decodeRootNode,
  decodeStoredDirectory,
  integerColumn,
  RECORD_HEADER_BYTES,
  type Node,
  type PostgresDatabase,
  type PostgresWriteFence,
  type S3BlobService,
  unlockAndRelease,
} from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import type { PathInfoService } from '../pathinfo/service.js';
import type { GcReport } from './collect.js';
import { PathGraph, planDeletion } from './path-graph.js';
import { pathKey, type PathKey } from './tables.js';

/** The first key of the one-GC-at-a-time lock ("nbgc"); the second is the schema's hash. */
const GC_LOCK_CLASS = 0x6e626763;
const GC_LOCK_KEY = `${GC_LOCK_CLASS}, hashtext(current_schema())`;
/** Directories per query of the mark's walk. */
const DIRECTORY_BATCH = 500;
const DEFAULT_FENCE_TIMEOUT_MS = 10_000;

/** A store on PostgreSQL (and S3), as GC needs it. */
export interface PostgresGcTarget {
  readonly db: PostgresDatabase;
  readonly pathInfos: PathInfoService;
  readonly blobs: S3BlobService;
  readonly fence: PostgresWriteFence;
  /** Told the store path digests of deleted PathInfos, so caches stop serving them at once. */
  readonly forgetPaths?: (digests: readonly Uint8Array[]) => void;
}

export interface PostgresGcOptions {
  readonly dryRun?: boolean;
  readonly uploadGraceMs?: number;
  readonly objectGraceMs?: number;
  readonly fenceTimeoutMs?: number;
  /** Called once marked, before anything is deleted (tests stop a run there). */
  readonly afterMark?: () => void | Promise<void>;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

export async function collectPostgresGarbage(target: PostgresGcTarget, options: PostgresGcOptions = {}): Promise<GcReport> {
  const started = Date.now();
  const { dryRun = false } = options;
  const session = await target.db.session('take the GC lock');
  let held = false;
  try {
    const [row] = await session.query(`SELECT pg_try_advisory_lock(${GC_LOCK_KEY}) AS locked`);
    held = Reflect.get(Object(row), 'locked') === true;
    if (!held) throw new NarBridgeError('NB_ERR_CONFLICT', 'another garbage collection is running');
    const fenced = Date.now();
    const swept = await target.fence.exclusive(() => markAndSweep(target, options), options.fenceTimeoutMs ?? DEFAULT_FENCE_TIMEOUT_MS);
    if (!swept) {
      return { ...EMPTY, dryRun, skipped: 'writers in flight did not finish in time', durationMs: Date.now() - started, fencedMs: 0 };
    }
    return { ...swept.value, dryRun, durationMs: Date.now() - started, fencedMs: Date.now() - fenced };
  } finally {
    await unlockAndRelease(session, held ? `SELECT pg_advisory_unlock(${GC_LOCK_KEY})` : null);
  }
}

const EMPTY = { evicted: [], directories: 0, records: 0, chunkLists: 0, objectBytes: 0, uploads: 0, buildLogs: 0, packsRemoved: 0, diskBytesFreed: 0 } as const;

type Swept = Omit<GcReport, 'dryRun' | 'durationMs' | 'fencedMs'>;

async function markAndSweep(target: PostgresGcTarget, options: PostgresGcOptions): Promise<Swept> {
  const { db } = target;
  const uploadGraceMs = options.uploadGraceMs ?? 0;
  const objectGraceMs = options.objectGraceMs ?? 0;
  const graph = await PathGraph.load(target.pathInfos);
  const roots: Node[] = [...graph.paths.values()].map((info) => info.node);
  const live = new Set<string>();

  const staleUploads: Buffer[] = [];
  const uploads = await db.query(
    'read NAR uploads',
    `SELECT file_sha256, root_node, claimed_by, uploaded_at >= now() - make_interval(secs => $1::float8 / 1000) AS young FROM nar_uploads`,
    [uploadGraceMs],
  );
  for (const row of uploads) {
    const claimedBy = Reflect.get(Object(row), 'claimed_by');
    const kept = claimedBy instanceof Uint8Array ? graph.paths.has(hex(claimedBy)) : Reflect.get(Object(row), 'young') === true;
    if (kept) roots.push(decodeRootNode(bytesColumn(row, 'root_node')).node);
    else staleUploads.push(Buffer.from(bytesColumn(row, 'file_sha256')));
  }
  // Build logs are kept (deleting a path here leaves its deriver's log): their blobs are live.
  for (const row of await db.query('read build logs', 'SELECT log_blake3 FROM build_logs')) live.add(hex(bytesColumn(row, 'log_blake3')));

  const since = 'now() - make_interval(secs => $1::float8 / 1000)';
  const youngDirectories = await db.query('read young directories', `SELECT digest FROM castore_directories WHERE written_at >= ${since}`, [objectGraceMs]);
  const youngRecords = await db.query(
    'read young records',
    `SELECT r.digest FROM object_pack_records r JOIN object_packs p ON p.id = r.object_id WHERE p.committed_at >= ${since}`,
    [objectGraceMs],
  );
  const young = new Set(youngRecords.map((row) => hex(bytesColumn(row, 'digest'))));
  const liveDirectories = await markDirectories(
    db,
    roots,
    live,
    youngDirectories.map((row) => B3Digest.parse(bytesColumn(row, 'digest'))),
  );
  for (const digest of young) live.add(digest);
  const lists = await db.query('read chunk lists', 'SELECT digest, chunks FROM object_chunked_blobs');
  const deadLists: Buffer[] = [];
  for (const row of lists) {
    const digest = bytesColumn(row, 'digest');
    const chunks = decodeChunks(B3Digest.parse(digest), Buffer.from(bytesColumn(row, 'chunks')));
    if (!live.has(hex(digest)) && !chunks.some((c) => young.has(c.digest.toHex()))) {
      deadLists.push(Buffer.from(digest));
      continue;
    }
    live.add(hex(digest));
    for (const chunk of chunks) live.add(chunk.digest.toHex());
  }
  const deadDirectories = (await db.query('read directories', 'SELECT digest FROM castore_directories'))
    .map((row) => bytesColumn(row, 'digest'))
    .filter((d) => !liveDirectories.has(hex(d)));
  const records = await db.query('read pack records', 'SELECT digest, size FROM object_pack_records');
  const deadRecords = records.filter((row) => !live.has(hex(bytesColumn(row, 'digest'))));
  await options.afterMark?.();

  if (options.dryRun) {
    return {
      ...EMPTY,
      directories: deadDirectories.length,
      records: deadRecords.length,
      chunkLists: deadLists.length,
      objectBytes: deadRecords.reduce<number>((sum, row) => sum + RECORD_HEADER_BYTES + integerColumn(row, 'size'), 0),
      uploads: staleUploads.length,
    };
  }
  const swept = await db.transaction('sweep', async (tx) => {
    const dirs = await tx.query('DELETE FROM castore_directories WHERE digest = ANY($1::bytea[]) RETURNING 1', [deadDirectories]);
    const gone = await tx.query(
      `WITH gone AS (DELETE FROM object_pack_records WHERE digest = ANY($1::bytea[]) RETURNING object_id, size),
         per AS (SELECT object_id, count(*) AS n, sum(size + $2) AS bytes FROM gone GROUP BY object_id)
       UPDATE object_packs p SET live_bytes = p.live_bytes - per.bytes FROM per WHERE p.id = per.object_id RETURNING per.n, per.bytes`,
      [deadRecords.map((row) => bytesColumn(row, 'digest')), RECORD_HEADER_BYTES],
    );
    const chunkLists = await tx.query('DELETE FROM object_chunked_blobs WHERE digest = ANY($1::bytea[]) RETURNING 1', [deadLists]);
    const stale = await tx.query('DELETE FROM nar_uploads WHERE file_sha256 = ANY($1::bytea[]) RETURNING 1', [staleUploads]);
    return {
      directories: dirs.length,
      records: gone.reduce<number>((sum, row) => sum + integerColumn(row, 'n'), 0),
      objectBytes: gone.reduce<number>((sum, row) => sum + integerColumn(row, 'bytes'), 0),
      chunkLists: chunkLists.length,
      uploads: stale.length,
    };
  });
  const removed = await removeEmptyObjects(target);
  return { ...EMPTY, ...swept, packsRemoved: removed.objects, diskBytesFreed: removed.bytes };
}

/**
 * Pack objects no record lives in: deleted from the bucket, then from the index, in one transaction holding their rows,
 * which a replica committing an object of the same name (the same content) upserts first: it waits, then finds the
 * object gone and uploads it again (ObjectCommit.recheck). A crash in between leaves rows the next run deletes.
 */
async function removeEmptyObjects(target: PostgresGcTarget): Promise<{ objects: number; bytes: number }> {
  const EMPTY_OBJECTS = 'FROM object_packs p WHERE NOT EXISTS (SELECT 1 FROM object_pack_records r WHERE r.object_id = p.id)';
  return target.db.transaction('remove empty pack objects', async (tx) => {
    const locked = await tx.query(`SELECT id ${EMPTY_OBJECTS} FOR UPDATE`);
    if (locked.length === 0) return { objects: 0, bytes: 0 };
    // Again, as a new statement sees what commits that held a row before us added to it.
    const empty = await tx.query(`SELECT id, key, bytes ${EMPTY_OBJECTS} AND id = ANY($1::bigint[])`, [locked.map((row) => integerColumn(row, 'id'))]);
    await target.blobs.deleteObjects(empty.map((row) => String(Reflect.get(Object(row), 'key'))));
    await tx.query('DELETE FROM object_packs WHERE id = ANY($1::bigint[])', [empty.map((row) => integerColumn(row, 'id'))]);
    return { objects: empty.length, bytes: empty.reduce<number>((sum, row) => sum + integerColumn(row, 'bytes'), 0) };
  });
}

/** The hex digests of every Directory reachable from `roots` and `more`, a level at a time; blobs they name go to `liveBlobs`. */
async function markDirectories(db: PostgresDatabase, roots: readonly Node[], liveBlobs: Set<string>, more: readonly B3Digest[]): Promise<Set<string>> {
  const seen = new Set<string>();
  let level: B3Digest[] = [...more];
  for (const root of roots) {
    if (root.kind === 'file') liveBlobs.add(root.digest.toHex());
    if (root.kind === 'directory') level.push(root.digest);
  }
  while (level.length > 0) {
    const next: B3Digest[] = [];
    const fresh = level.filter((d) => {
      const h = d.toHex();
      if (seen.has(h)) return false;
      seen.add(h);
      return true;
    });
    for (let at = 0; at < fresh.length; at += DIRECTORY_BATCH) {
      const batch = fresh.slice(at, at + DIRECTORY_BATCH);
      const rows = await db.query('read directories', 'SELECT digest, data FROM castore_directories WHERE digest = ANY($1::bytea[])', [
        batch.map((d) => d.bytes),
      ]);
      for (const row of rows) {
        const directory = decodeStoredDirectory(B3Digest.parse(bytesColumn(row, 'digest')), bytesColumn(row, 'data'));
        for (const { node } of directory.entries) {
          if (node.kind === 'file') liveBlobs.add(node.digest.toHex());
          else if (node.kind === 'directory' && !seen.has(node.digest.toHex())) next.push(node.digest);
        }
      }
    }
    level = next;
  }
  return seen;
}

/**
 * Deletes the PathInfos of `digests` (and the upload records they claimed) with writers held off; refused
 * (NB_ERR_CONFLICT) while a kept path refers to one unless `recursive`. Their objects go at the next GC.
 */
export async function deletePostgresPaths(
  target: Pick<PostgresGcTarget, 'db' | 'pathInfos' | 'fence' | 'forgetPaths'>,
  digests: readonly Uint8Array[],
  recursive: boolean,
): Promise<string[]> {
  const done = await target.fence.exclusive(async () => {
    const graph = await PathGraph.load(target.pathInfos);
    const doomed = [...planDeletion(graph, digests.map(pathKey), [], recursive)];
    const keys = doomed.map((key: PathKey) => Buffer.from(key, 'hex'));
    await target.db.transaction('delete paths', async (tx) => {
      await tx.query('DELETE FROM path_infos WHERE digest = ANY($1::bytea[])', [keys]);
      await tx.query('DELETE FROM nar_uploads WHERE claimed_by = ANY($1::bytea[])', [keys]);
    });
    target.forgetPaths?.(keys);
    return doomed.map((key) => graph.basename(key));
  }, DEFAULT_FENCE_TIMEOUT_MS);
  if (!done) throw new NarBridgeError('NB_ERR_TIMEOUT', 'pushes in flight did not finish in time; try again');
  return done.value;
}
