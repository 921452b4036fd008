// Blobs in S3-compatible object storage: pack objects, an index of where each record is, ranged reads.
export { parseS3Url, S3Bucket, type S3Location } from './bucket.js';
export { PostgresPackObjectIndex, SqlitePackObjectIndex, type ObjectCommit, type ObjectIndexStats, type PackObjectIndex } from './object-index.js';
export { S3BlobService, type S3BlobServiceOptions } from './s3-blob-service.js';
export { openS3BlobService, type S3BlobContext } from './open.js';
