// --blob-service-addr and friends → services that replace the embedded store's, opened and validated at startup.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BLOB_SCHEMES,
  blobServiceFromUrl,
  directoryServiceFromUrl,
  openDatabase,
  openS3BlobService,
  PostgresDirectoryService,
  S3BlobService,
  SqlitePackObjectIndex,
  type BlobService,
  type OpenedService,
  type PackObjectIndex,
  type PostgresDatabase,
  type SchemeTable,
} from '../castore/index.js';
import { pathInfoServiceFromUrl, PostgresPathInfoChanges, type BuildLogIndex, type PathInfoCachePeers, type Store } from '../store/index.js';
import { isPostgresUrl, postgresStoreMetadataFromUrl } from './postgres-metadata.js';
import type { StoreSettings } from './settings.js';

/**
 * The NAR upload and build-log indexes stay in the data dir, beside the process that matches narinfo PUTs, unless
 * the PathInfos are in PostgreSQL: then they go there too, so that every replica sharing those PathInfos shares them.
 */
export type StoreOverrides = Partial<Pick<Store, 'blobs' | 'directories' | 'pathInfos' | 'narUploads'>> & {
  readonly buildLogs?: BuildLogIndex;
  /** Set when PathInfos and Directories share one PostgreSQL database and blobs are in S3: a store GC can collect. */
  readonly postgresGc?: { readonly db: PostgresDatabase; readonly blobs: S3BlobService };
  /** Set with PathInfos in PostgreSQL: how replicas tell each other's narinfo caches of changes. */
  readonly pathInfoChanges?: PathInfoCachePeers;
};

interface OpenOverrides {
  readonly services: StoreOverrides;
  close(): void;
}

export async function openStoreOverrides(settings: StoreSettings): Promise<OpenOverrides> {
  const withToken = (raw: string | null) => (raw === null ? undefined : withDefaultTokenFile(raw, settings.grpcClientTokenFile));
  const pathInfos = settings.pathInfoServiceAddr ?? undefined;
  const metadata = pathInfos !== undefined && isPostgresUrl(pathInfos) ? await postgresStoreMetadataFromUrl(pathInfos) : null;
  const sameDatabase = settings.directoryServiceAddr === settings.pathInfoServiceAddr;
  try {
    const opened = await openServices(
      {
        blobs: withToken(settings.blobServiceAddr),
        // At the PathInfos' URL, Directories join their pool (and GC can work across both).
        directories: metadata && sameDatabase ? undefined : withToken(settings.directoryServiceAddr),
        pathInfos: metadata ? undefined : withToken(settings.pathInfoServiceAddr),
      },
      new Map([...BLOB_SCHEMES, ['s3', (url: URL) => openS3Blobs(url, settings.dataDir, metadata?.service.objectPacks ?? null)]]),
    );
    if (!metadata) return opened;
    const { pathInfos: inPostgres, narUploads, buildLogs, database } = metadata.service;
    const directories = sameDatabase ? await PostgresDirectoryService.open(database) : opened.services.directories;
    const { blobs } = opened.services;
    const collectable = sameDatabase && blobs instanceof S3BlobService;
    return {
      services: {
        ...opened.services,
        ...(directories ? { directories } : {}),
        pathInfos: inPostgres,
        narUploads,
        buildLogs,
        ...(collectable ? { postgresGc: { db: database, blobs } } : {}),
        pathInfoChanges: new PostgresPathInfoChanges(database),
      },
      close: () => {
        opened.close();
        metadata.close();
      },
    };
  } catch (err) {
    metadata?.close();
    throw err;
  }
}

/**
 * `s3://…` blobs: spooled under the data dir, indexed beside the PathInfos when those are in PostgreSQL (so replicas
 * share the index), otherwise in the data dir's own database (one node).
 */
async function openS3Blobs(url: URL, dataDir: string, shared: PackObjectIndex | null): Promise<OpenedService<BlobService>> {
  await mkdir(dataDir, { recursive: true });
  const local = shared ? null : openDatabase(join(dataDir, 'meta.sqlite'));
  try {
    const opened = await openS3BlobService(url, { index: shared ?? new SqlitePackObjectIndex(local!), spoolDir: join(dataDir, 's3-spool') });
    return {
      service: opened.service,
      close: () => {
        opened.close();
        local?.close();
      },
    };
  } catch (err) {
    local?.close();
    throw err;
  }
}

/** `--grpc-client-token-file` for a grpc+… URL that names no token file of its own; other URLs pass unchanged. */
export function withDefaultTokenFile(raw: string, tokenFile: string | null): string {
  if (tokenFile === null || !raw.startsWith('grpc+') || !URL.canParse(raw)) return raw;
  const url = new URL(raw);
  if (!url.searchParams.has('token-file')) url.searchParams.set('token-file', tokenFile);
  return url.href;
}

/** One optional service URL per replaceable service. */
type ServiceUrls = Partial<Record<keyof StoreOverrides, string>>;

/**
 * Opens the service each given URL names (also the far tiers of --composition). Throws NB_ERR_CONFIG (exit 2)
 * on a bad URL, after closing whatever was already opened.
 */
export async function openServices(urls: ServiceUrls, blobSchemes: SchemeTable<BlobService> = BLOB_SCHEMES): Promise<OpenOverrides> {
  const opened: Array<OpenedService<unknown>> = [];
  const open = async <S>(raw: string | undefined, fromUrl: (raw: string) => Promise<OpenedService<S>>): Promise<S | undefined> => {
    if (raw === undefined) return undefined;
    const service = await fromUrl(raw);
    opened.push(service);
    return service.service;
  };
  const close = () => {
    for (const service of opened) service.close();
  };
  try {
    const blobs = await open(urls.blobs, (raw) => blobServiceFromUrl(raw, blobSchemes));
    const directories = await open(urls.directories, (raw) => directoryServiceFromUrl(raw));
    const pathInfos = await open(urls.pathInfos, (raw) => pathInfoServiceFromUrl(raw));
    return {
      services: { ...(blobs ? { blobs } : {}), ...(directories ? { directories } : {}), ...(pathInfos ? { pathInfos } : {}) },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
