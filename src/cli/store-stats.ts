// What the embedded store holds: object counts from SQLite, blob count and sizes from the pack index and files.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRow, type Database, type PackBlobService } from '../castore/index.js';
import { isEnoent } from '../errors.js';
import type { PathInfoService } from '../store/index.js';

export interface EmbeddedStoreStats {
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

/** `pathInfos` is the service over `db`'s path_infos table, so narBytes and the path count describe the same paths. */
export async function measureEmbeddedStore(
  dataDir: string,
  db: Database,
  packs: PackBlobService | null,
  pathInfos: PathInfoService,
): Promise<EmbeddedStoreStats> {
  const count = (table: string): number => {
    // A table whose service another replaced (--directory-service-addr) was never created: it holds nothing here.
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get([table])) return 0;
    return readRow(table, db.prepare(`SELECT count(*) AS n FROM ${table}`).get([]))?.integer('n') ?? 0;
  };
  // Objects are pack records (whole small blobs and chunks), each distinct content once.
  const totals = packs?.stats() ?? { records: 0, payloadBytes: 0 };
  const blobs = totals.records;
  const blobBytes = totals.payloadBytes;
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
  let narBytes = 0;
  for await (const info of pathInfos.list()) narBytes += info.narSize;
  return { blobs, blobBytes, directories: count('castore_directories'), pathInfos: count('path_infos'), narBytes, diskBytes };
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
