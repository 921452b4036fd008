// The embedded default store: blobs as content-addressed files, everything else in one SQLite file.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBlobService, openDatabase, SqliteDirectoryService } from '../castore/index.js';
import { SqliteBuildLogIndex, SqliteNarUploadIndex, SqlitePathInfoService, type BuildLogIndex, type Store } from '../store/index.js';

export interface OpenStore {
  readonly store: Store;
  readonly buildLogs: BuildLogIndex;
  close(): void;
}

export async function openLocalStore(dataDir: string): Promise<OpenStore> {
  await mkdir(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const store: Store = {
    blobs: new LocalBlobService(join(dataDir, 'blobs')),
    directories: new SqliteDirectoryService(db),
    pathInfos: new SqlitePathInfoService(db),
    narUploads: new SqliteNarUploadIndex(db),
  };
  return { store, buildLogs: new SqliteBuildLogIndex(db), close: () => db.close() };
}
