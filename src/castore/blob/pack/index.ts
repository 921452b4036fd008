// The pack engine: the embedded store's blobs, appended to large pack files and indexed in SQLite.
export { PackBlobService, type PackStoreOptions } from './pack-blob-service.js';
export { RECORD_HEADER_BYTES } from './format.js';
export { decodeChunks } from './pack-index.js';
export { hasLegacyLayout, migrateLegacyLayout, type LegacyMigration, type LegacyMigrationOptions } from './migrate-legacy.js';
export { scrubPacks, type CorruptObject } from './scrub.js';
