// The embedded default store: blobs as content-addressed files, everything else in one SQLite file.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkedBlobService, LocalBlobService, LocalChunkIndex, openDatabase, SqliteDirectoryService } from '../castore/index.js';
import { SqliteBuildLogIndex, SqliteNarUploadIndex, SqlitePathInfoService, type BuildLogIndex, type Store } from '../store/index.js';
import type { StoreOverrides } from './service-overrides.js';
import { measureEmbeddedStore, type EmbeddedStoreStats } from './store-stats.js';

export interface OpenStore {
  readonly store: Store;
  readonly buildLogs: BuildLogIndex;
  /** Counts and sizes, measured now (walks the blob directory). */
  stats(): Promise<EmbeddedStoreStats>;
  close(): void;
}

/** `overrides` replace embedded services (--blob-service-addr etc.; the indexes follow PathInfos in PostgreSQL). */
export async function openLocalStore(dataDir: string, overrides: StoreOverrides = {}): Promise<OpenStore> {
  await mkdir(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const store: Store = {
    // Large blobs as FastCDC chunks (each a blob file) listed under chunks/; blobs stored whole before stay readable.
    blobs: overrides.blobs ?? new ChunkedBlobService(new LocalBlobService(join(dataDir, 'blobs')), new LocalChunkIndex(join(dataDir, 'chunks'))),
    directories: overrides.directories ?? new SqliteDirectoryService(db),
    pathInfos: overrides.pathInfos ?? new SqlitePathInfoService(db),
    narUploads: overrides.narUploads ?? new SqliteNarUploadIndex(db),
  };
  return { store, buildLogs: overrides.buildLogs ?? new SqliteBuildLogIndex(db), stats: () => measureEmbeddedStore(dataDir, db), close: () => db.close() };
}
