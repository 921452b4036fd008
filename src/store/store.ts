// The services a nar-bridge store is made of; the HTTP and gRPC adapters take one of these.
import type { Castore, Fence } from '../castore/index.js';
import type { NarUploadIndex } from './upload/nar-index/service.js';
import type { PathInfoService } from './pathinfo/service.js';

export interface Store extends Castore {
  readonly pathInfos: PathInfoService;
  readonly narUploads: NarUploadIndex;
  /** Shared with a garbage collector of these services (see WriteFence); absent where nothing collects. */
  readonly fence?: Fence;
}
