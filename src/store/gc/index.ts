// Garbage collection, retention, pins and deletion for the embedded store.
export { AccessRecorder } from './access.js';
export { collectGarbage, DEFAULT_UPLOAD_GRACE_MS, GC_PHASES, type GcOptions, type GcPhase, type GcReport, type GcTarget } from './collect.js';
export { deleteStorePaths } from './delete.js';
export { PathGraph, planDeletion, planEviction, type RetentionPolicy } from './path-graph.js';
export { GcTables, pathKey, type PathKey } from './tables.js';
export { collectPostgresGarbage, deletePostgresPaths, type PostgresGcOptions, type PostgresGcTarget } from './postgres.js';
