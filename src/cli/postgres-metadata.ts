// The store's metadata in PostgreSQL, over one pool: PathInfos, and beside them the NAR upload index, the build-log
// index and the index of blobs in S3 pack objects, so that replicas behind one load balancer share them all (a NAR PUT
// and its narinfo PUT may reach different replicas; a log pushed to one is served by all).
import {
  POSTGRES_SCHEMES,
  postgresScheme,
  PostgresPackObjectIndex,
  serviceFromUrl,
  type OpenedService,
  type PackObjectIndex,
  type PostgresDatabase,
} from '../castore/index.js';
import {
  PostgresBuildLogIndex,
  PostgresNarUploadIndex,
  PostgresPathInfoService,
  type BuildLogIndex,
  type NarUploadIndex,
  type PathInfoService,
} from '../store/index.js';

export interface StoreMetadata {
  readonly pathInfos: PathInfoService;
  readonly narUploads: NarUploadIndex;
  readonly buildLogs: BuildLogIndex;
  /** Where blobs are among the pack objects of an s3:// blob service (its tables exist whether or not one is used). */
  readonly objectPacks: PackObjectIndex;
  /** The pool they share (Directories at the same URL join it, and GC works across all of them in one database). */
  readonly database: PostgresDatabase;
}

const POSTGRES_METADATA = postgresScheme<StoreMetadata>(async (db) => ({
  pathInfos: await PostgresPathInfoService.open(db),
  narUploads: await PostgresNarUploadIndex.open(db),
  buildLogs: await PostgresBuildLogIndex.open(db),
  objectPacks: await PostgresPackObjectIndex.open(db),
  database: db,
}));

/** Whether `raw` names a PostgreSQL database (whose store metadata postgresStoreMetadataFromUrl opens). */
export function isPostgresUrl(raw: string): boolean {
  const lower = raw.toLowerCase(); // schemes are case-insensitive, as URL parsing treats them
  return POSTGRES_SCHEMES.some((scheme) => lower.startsWith(`${scheme}:`));
}

export function postgresStoreMetadataFromUrl(raw: string): Promise<OpenedService<StoreMetadata>> {
  return serviceFromUrl(raw, new Map(POSTGRES_SCHEMES.map((scheme) => [scheme, POSTGRES_METADATA])));
}
