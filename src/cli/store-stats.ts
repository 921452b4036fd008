// What the store holds, from the services holding it: the embedded SQLite and packs, or PostgreSQL and the S3 object
// index (shared by every replica, so each reports the whole store); disk usage is this data dir's.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PackBlobService, PostgresDirectoryService, readRow, S3BlobService, SqliteDirectoryService, type Database } from '../castore/index.js';
import { isEnoent } from '../errors.js';
import { PostgresPathInfoService, SqlitePathInfoService, type Store } from '../store/index.js';

export interface StoreTotals {
  readonly blobs: number;
  /** Sum of blob lengths: the bytes of file contents actually kept (each distinct content once). */
  readonly blobBytes: number;
  readonly directories: number;
  readonly pathInfos: number;
  /** Sum of NarSize over the path infos: the bytes of NARs the store represents. */
  readonly narBytes: number;
  /** Allocated bytes (st_blocks) of blob files plus the SQLite files: what `du` would say. */
  readonly diskBytes: number;
}

const DISK_BLOCK_BYTES = 512;
/** Files beside meta.sqlite that hold committed data too (write-ahead log, shared memory index). */
const DATABASE_FILES = ['meta.sqlite', 'meta.sqlite-wal', 'meta.sqlite-shm'];

/**
 * `db` is the data dir's database. Services of other kinds (gRPC, a directory of blobs) are another store's to count:
 * they count 0 here.
 */
export async function measureStore(dataDir: string, db: Database, store: Pick<Store, 'blobs' | 'directories' | 'pathInfos'>): Promise<StoreTotals> {
  const [blobs, directories, paths, diskBytes] = await Promise.all([
    blobTotals(store.blobs),
    directoryCount(store.directories, db),
    pathTotals(store.pathInfos),
    dataDirDiskBytes(dataDir),
  ]);
  return { ...blobs, directories, ...paths, diskBytes };
}

/** Objects are pack records (whole small blobs and chunks), each distinct content once. */
async function blobTotals(blobs: Store['blobs']): Promise<Pick<StoreTotals, 'blobs' | 'blobBytes'>> {
  const totals = blobs instanceof PackBlobService || blobs instanceof S3BlobService ? await blobs.stats() : { records: 0, payloadBytes: 0 };
  return { blobs: totals.records, blobBytes: totals.payloadBytes };
}

async function directoryCount(directories: Store['directories'], db: Database): Promise<number> {
  if (directories instanceof PostgresDirectoryService) return directories.count();
  if (!(directories instanceof SqliteDirectoryService)) return 0;
  return readRow('castore_directories', db.prepare('SELECT count(*) AS n FROM castore_directories').get([]))?.integer('n') ?? 0;
}

/** Counted from one listing, so the path count and narBytes describe the same paths. */
async function pathTotals(pathInfos: Store['pathInfos']): Promise<Pick<StoreTotals, 'pathInfos' | 'narBytes'>> {
  let count = 0;
  let narBytes = 0;
  if (pathInfos instanceof SqlitePathInfoService || pathInfos instanceof PostgresPathInfoService) {
    for await (const info of pathInfos.list()) {
      count++;
      narBytes += info.narSize;
    }
  }
  return { pathInfos: count, narBytes };
}

async function dataDirDiskBytes(dataDir: string): Promise<number> {
  let diskBytes = 0;
  const packDir = join(dataDir, 'packs');
  for (const name of (await ifPresent(readdir(packDir))) ?? []) {
    const st = await ifPresent(lstat(join(packDir, name)));
    if (st?.isFile()) diskBytes += st.blocks * DISK_BLOCK_BYTES;
  }
  for (const file of DATABASE_FILES) {
    const st = await ifPresent(lstat(join(dataDir, file))); // the -wal and -shm files come and go
    if (st) diskBytes += st.blocks * DISK_BLOCK_BYTES;
  }
  return diskBytes;
}

/** Null when the file is gone (a store in use changes while it is walked); any other failure is thrown. */
async function ifPresent<T>(pending: Promise<T>): Promise<T | null> {
  try {
    return await pending;
  } catch (err) {
    if (isEnoent(err)) return null;
    throw err;
  }
}

/** Measuring walks every blob file, so a scrape every few seconds reuses a measurement this recent. */
export const STATS_MAX_AGE_MS = 30_000;

/** `measure`, at most once per `maxAgeMs`; concurrent callers share one measurement in progress. */
export function cached<T>(measure: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > maxAgeMs) {
      const value = measure();
      last = { at: now, value };
      value.catch(() => {
        last = null; // a failed measurement is not reused; the caller sees the error
      });
    }
    return last.value;
  };
}
