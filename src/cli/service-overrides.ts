// --blob-service-addr and friends → services that replace the embedded store's, opened and validated at startup.
import { blobServiceFromUrl, directoryServiceFromUrl, type OpenedService } from '../castore/index.js';
import { pathInfoServiceFromUrl, type BuildLogIndex, type Store } from '../store/index.js';
import { isPostgresUrl, postgresStoreMetadataFromUrl } from './postgres-metadata.js';
import type { StoreSettings } from './settings.js';

/**
 * The NAR upload and build-log indexes stay in the data dir, beside the process that matches narinfo PUTs, unless
 * the PathInfos are in PostgreSQL: then they go there too, so that every replica sharing those PathInfos shares them.
 */
export type StoreOverrides = Partial<Pick<Store, 'blobs' | 'directories' | 'pathInfos' | 'narUploads'>> & { readonly buildLogs?: BuildLogIndex };

interface OpenOverrides {
  readonly services: StoreOverrides;
  close(): void;
}

export async function openStoreOverrides(settings: StoreSettings): Promise<OpenOverrides> {
  const withToken = (raw: string | null) => (raw === null ? undefined : withDefaultTokenFile(raw, settings.grpcClientTokenFile));
  const pathInfos = settings.pathInfoServiceAddr ?? undefined;
  const inPostgres = pathInfos !== undefined && isPostgresUrl(pathInfos);
  const opened = await openServices({
    blobs: withToken(settings.blobServiceAddr),
    directories: withToken(settings.directoryServiceAddr),
    pathInfos: inPostgres ? undefined : withToken(settings.pathInfoServiceAddr),
  });
  if (!inPostgres) return opened;
  try {
    const metadata = await postgresStoreMetadataFromUrl(pathInfos);
    return {
      services: { ...opened.services, ...metadata.service },
      close: () => {
        metadata.close();
        opened.close();
      },
    };
  } catch (err) {
    opened.close();
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
export async function openServices(urls: ServiceUrls): Promise<OpenOverrides> {
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
    const blobs = await open(urls.blobs, (raw) => blobServiceFromUrl(raw));
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
