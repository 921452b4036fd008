// BlobService from a URL: memory://, local:///abs/dir, grpc+http://host:port, grpc+https://…, grpc+unix:///abs/socket.
import { absolutePathOf, grpcScheme, memoryScheme, requirePlainScheme, serviceFromUrl, type OpenedService, type SchemeTable } from '../service-url.js';
import { GrpcBlobService } from './grpc.js';
import { LocalBlobService } from './local.js';
import { MemoryBlobService } from './memory.js';
import type { BlobService } from './service.js';

export const BLOB_SCHEMES: SchemeTable<BlobService> = new Map([
  ['memory', memoryScheme<BlobService>(() => new MemoryBlobService())],
  [
    'local',
    (url: URL) => {
      requirePlainScheme(url);
      return { service: new LocalBlobService(absolutePathOf(url)), close: () => undefined };
    },
  ],
  ['grpc', grpcScheme<BlobService>((connection) => new GrpcBlobService(connection))],
]);

export function blobServiceFromUrl(raw: string, schemes: SchemeTable<BlobService> = BLOB_SCHEMES): Promise<OpenedService<BlobService>> {
  return serviceFromUrl(raw, schemes);
}
