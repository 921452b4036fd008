// `s3://bucket/prefix?…` as a blob service: the bucket is checked before the service is handed out, so a wrong
// bucket, endpoint or credentials stop startup with one line rather than failing the first upload.
import { NarBridgeError } from '../../../errors.js';
import { serviceUrlError } from '../../service-url-error.js';
import type { OpenedService } from '../../service-url.js';
import type { BlobService } from '../service.js';
import type { PackObjectIndex } from './object-index.js';
import { S3BlobService, type S3BlobServiceOptions } from './s3-blob-service.js';

/** What the URL cannot say: where this process spools, and the index (shared by replicas, or local). */
export interface S3BlobContext extends S3BlobServiceOptions {
  readonly index: PackObjectIndex;
}

export async function openS3BlobService(url: URL, context: S3BlobContext): Promise<OpenedService<BlobService>> {
  // Loaded only when used: the AWS SDK and pg together cost every server process ~5 MB of resident memory.
  const { parseS3Url, S3Bucket } = await import('./bucket.js');
  const bucket = new S3Bucket(parseS3Url(url));
  try {
    await bucket.check();
  } catch (err) {
    bucket.close();
    if (!NarBridgeError.is(err) || err.code !== 'NB_ERR_STORAGE') throw err;
    throw serviceUrlError(url.href, `cannot use the bucket: ${err.message}`, err);
  }
  const service = new S3BlobService(bucket, context.index, context);
  return {
    service,
    close: () => {
      void service.close().finally(() => bucket.close());
    },
  };
}
