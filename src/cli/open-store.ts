// The embedded default store: blobs in pack files (src/castore/blob/pack), everything else in one SQLite file.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hasLegacyLayout,
  migrateLegacyLayout,
  openDatabase,
  PackBlobService,
  SqliteDirectoryService,
  PostgresWriteFence,
  SqliteFenceBoard,
  WriteFence,
  type Database,
} from '../castore/index.js';
import {
  GcTables,
  SqliteBuildLogIndex,
  SqliteNarUploadIndex,
  SqlitePathInfoService,
  SqliteRealisationService,
  type BuildLogIndex,
  type GcTarget,
  type PostgresGcTarget,
  type RealisationService,
  type RecentPathInfos,
  type Store,
} from '../store/index.js';
import type { StoreOverrides } from './service-overrides.js';
import { measureStore, type StoreTotals } from './store-stats.js';

export interface OpenStore {
  readonly store: Store;
  readonly buildLogs: BuildLogIndex;
  readonly realisations: RealisationService;
  /** The embedded path infos, newest first; null when --path-info-service-addr replaces them. */
  readonly recent: RecentPathInfos | null;
  /** The embedded blob engine, or null when --blob-service-addr put blobs elsewhere. */
  readonly packs: PackBlobService | null;
  /**
   * What garbage collection works on: null unless every service is the embedded one. `forgetPaths` is for the
   * server to add (its PathInfo cache).
   */
  readonly gc: Omit<GcTarget, 'forgetPaths'> | null;
  /** What garbage collection works on when the store is shared by replicas (PostgreSQL and S3); else null. */
  readonly postgresGc: Omit<PostgresGcTarget, 'forgetPaths'> | null;
  /** Counts and sizes of what the store's services hold, measured now. */
  stats(): Promise<StoreTotals>;
  /** Flushes what waited for an automatic flush (PackBlobService.close), then closes the database. */
  close(): Promise<void>;
}

/** `overrides` replace embedded services (--blob-service-addr etc.; the indexes follow PathInfos in PostgreSQL). */
export async function openLocalStore(dataDir: string, overrides: StoreOverrides = {}): Promise<OpenStore> {
  await mkdir(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const pathInfos = new SqlitePathInfoService(db);
  const blobs = overrides.blobs ?? (await openPacks(dataDir, db));
  const packs = blobs instanceof PackBlobService ? blobs : null;
  const directories = overrides.directories ?? new SqliteDirectoryService(db);
  const embedded = packs && directories instanceof SqliteDirectoryService && !overrides.pathInfos && !overrides.narUploads && !overrides.buildLogs;
  // Every process on the data dir (workers, a CLI gc beside a server) meets on the board in meta.sqlite.
  const fence = embedded ? new WriteFence(new SqliteFenceBoard(db)) : null;
  // Replicas sharing one PostgreSQL schema meet on its advisory lock instead.
  const shared = overrides.postgresGc && overrides.pathInfos ? { ...overrides.postgresGc, pathInfos: overrides.pathInfos } : null;
  const postgresFence = shared ? new PostgresWriteFence(shared.db) : null;
  const store: Store = {
    blobs,
    directories,
    pathInfos: overrides.pathInfos ?? pathInfos,
    narUploads: overrides.narUploads ?? new SqliteNarUploadIndex(db),
    ...(fence ? { fence } : postgresFence ? { fence: postgresFence } : {}),
  };
  const buildLogs = overrides.buildLogs ?? new SqliteBuildLogIndex(db);
  return {
    store,
    buildLogs,
    realisations: new SqliteRealisationService(db),
    recent: overrides.pathInfos ? null : pathInfos,
    packs,
    gc: embedded && fence ? { tables: new GcTables(db), pathInfos, directories, packs, fence } : null,
    postgresGc: shared && postgresFence ? { ...shared, fence: postgresFence } : null,
    stats: () => measureStore(dataDir, db, store),
    close: async () => {
      void postgresFence?.close();
      // Before the database: the pack engine commits what waited for its automatic flush there.
      await packs?.close();
      db.close();
    },
  };
}

/**
 * The pack engine over `<dataDir>/packs`. A data dir of the file-per-blob layout (before packs) is moved into packs
 * first, in place and resumably, with progress on stderr: it can take a while, and an operator should know why.
 */
async function openPacks(dataDir: string, db: Database): Promise<PackBlobService> {
  const packs = new PackBlobService(db, join(dataDir, 'packs'));
  if (!(await hasLegacyLayout(dataDir))) return packs;
  const say = (line: string) => process.stderr.write(`nar-bridge: ${line}\n`);
  say(`${dataDir} holds blobs in the old file-per-blob layout: moving them into packs now (safe to interrupt and rerun)`);
  const result = await migrateLegacyLayout(dataDir, packs, { progress: say });
  for (const problem of result.problems) say(`migration problem: ${problem}`);
  return packs;
}
