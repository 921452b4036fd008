// The pair of content-addressed services that NAR ingest and render work against.
import type { BlobService } from './blob/service.js';
import type { DirectoryService } from './directory/service.js';

export interface Castore {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
}
