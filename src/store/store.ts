// The services a nar-bridge store is made of; the HTTP and gRPC adapters take one of these.
import type { Castore } from './castore.js';
import type { NarUploadIndex } from './nar-uploads.js';
import type { PathInfoService } from './path-info-service.js';

export interface Store extends Castore {
  readonly pathInfos: PathInfoService;
  readonly narUploads: NarUploadIndex;
}
