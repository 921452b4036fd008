// The pair of content-addressed services that NAR ingest and render work against.
import type { BlobService, DirectoryService } from '../castore/index.js';

export interface Castore {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
}
