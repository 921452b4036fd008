// The embedded default store: blobs as content-addressed files, everything else in one SQLite file.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkedBlobService, LocalBlobService, LocalChunkIndex, openDatabase, SqliteDirectoryService } from '../castore/index.js';
import {
  SqliteBuildLogIndex,
  SqliteNarUploadIndex,
  SqlitePathInfoService,
  SqliteRealisationService,
  type BuildLogIndex,
  type RealisationService,
  type RecentPathInfos,
  type Store,
} from '../store/index.js';
import type { StoreOverrides } from './service-overrides.js';
import { measureEmbeddedStore, type EmbeddedStoreStats } from './store-stats.js';

interface OpenStore {
  readonly store: Store;
  readonly buildLogs: BuildLogIndex;
  readonly realisations: RealisationService;
  /** The embedded path infos, newest first; null when --path-info-service-addr replaces them. */
  readonly recent: RecentPathInfos | null;
  /** Counts and sizes, measured now (walks the blob directory). */
  stats(): Promise<EmbeddedStoreStats>;
  close(): void;
}

/** `overrides` replace embedded services (--blob-service-addr etc.); the upload index always stays here. */
export async function openLocalStore(dataDir: string, overrides: StoreOverrides = {}): Promise<OpenStore> {
  await mkdir(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const pathInfos = new SqlitePathInfoService(db);
  const store: Store = {
    // Large blobs as FastCDC chunks (each a blob file) listed under chunks/; blobs stored whole before stay readable.
    blobs: overrides.blobs ?? new ChunkedBlobService(new LocalBlobService(join(dataDir, 'blobs')), new LocalChunkIndex(join(dataDir, 'chunks'))),
    directories: overrides.directories ?? new SqliteDirectoryService(db),
    pathInfos: overrides.pathInfos ?? pathInfos,
    narUploads: new SqliteNarUploadIndex(db),
  };
  return {
    store,
    buildLogs: new SqliteBuildLogIndex(db),
    realisations: new SqliteRealisationService(db),
    recent: overrides.pathInfos ? null : pathInfos,
    stats: () => measureEmbeddedStore(dataDir, db, pathInfos),
    close: () => db.close(),
  };
}
