// --blob-service-addr and friends → services that replace the embedded store's, opened and validated at startup.
import { blobServiceFromUrl, directoryServiceFromUrl, type OpenedService } from '../castore/index.js';
import { pathInfoServiceFromUrl, type Store } from '../store/index.js';
import type { StoreSettings } from './settings.js';

/** The narUploads index is never replaced: it must live beside the process that matches narinfo PUTs. */
export type StoreOverrides = Partial<Pick<Store, 'blobs' | 'directories' | 'pathInfos'>>;

export interface OpenOverrides {
  readonly services: StoreOverrides;
  close(): void;
}

/** Throws NB_ERR_CONFIG (exit 2) on a bad URL, after closing whatever was already opened. */
export async function openStoreOverrides(settings: StoreSettings): Promise<OpenOverrides> {
  const opened: Array<OpenedService<unknown>> = [];
  const open = async <S>(raw: string | null, fromUrl: (raw: string) => Promise<OpenedService<S>>): Promise<S | undefined> => {
    if (raw === null) return undefined;
    const service = await fromUrl(raw);
    opened.push(service);
    return service.service;
  };
  const close = () => {
    for (const service of opened) service.close();
  };
  try {
    const blobs = await open(settings.blobServiceAddr, (raw) => blobServiceFromUrl(raw));
    const directories = await open(settings.directoryServiceAddr, (raw) => directoryServiceFromUrl(raw));
    const pathInfos = await open(settings.pathInfoServiceAddr, (raw) => pathInfoServiceFromUrl(raw));
    return {
      services: { ...(blobs ? { blobs } : {}), ...(directories ? { directories } : {}), ...(pathInfos ? { pathInfos } : {}) },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
