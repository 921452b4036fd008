// Garbage collection of the embedded store: everything not reachable from a retained PathInfo is reclaimed.
//
// Roots: every PathInfo kept (after retention evicted some), the upload records of NARs not yet claimed by a
// narinfo while younger than the grace period (a push in progress: its NAR is in, its narinfo not yet; a HEAD that
// found it renews it), build logs, and blobs, chunks and Directories written within the object grace period (a gRPC
// client puts them in calls before the one with its PathInfo; a pack file's modification time dates its records).
// Reachable from them: Directories (SQLite), blobs, and the chunks of chunked blobs (a chunk stays while any blob
// listing it stays). The rest is deleted in ONE SQLite transaction — PathInfos evicted, upload records and build
// logs let go, Directories, pack index rows — so a kill -9 at any point leaves either the old state or the new one;
// the disk space comes back afterwards by repacking (pack-blob-service.ts repack), which is crash-safe on its own.
//
// Safety against concurrent writers (see WriteFence): mark and sweep run inside the fence's exclusive section — across
// every process on the data dir (serve workers, `nar-bridge gc` beside a server), which meet on its board — so no
// NAR ingest, upload record or PathInfo put is half-way while reachability is decided; a writer that deduplicated
// against an object before the GC started has finished (and written the reference that keeps it) before the mark
// begins, and one starting after the sweep re-checks presence (requireStoredRoot, the Directory putter) and fails
// cleanly instead of committing a dangling reference. Objects closed but not yet flushed are never deleted.
import {
  type B3Digest,
  decodeRootNode,
  RECORD_HEADER_BYTES,
  type Node,
  type PackBlobService,
  type SqliteDirectoryService,
  type WriteFence,
} from '../../castore/index.js';
import type { PathInfoService } from '../pathinfo/service.js';
import { PathGraph, planEviction, type RetentionPolicy } from './path-graph.js';
import type { GcTables } from './tables.js';

/** Points a test (or NAR_BRIDGE_GC_DIE_AT) can stop a run at, to check that a crash there is harmless. */
export const GC_PHASES = ['locked', 'marked', 'swept', 'repacking', 'repointed', 'done'] as const;
export type GcPhase = (typeof GC_PHASES)[number];

/** The embedded store's services, as GC needs them (deletion is not part of the service interfaces). */
export interface GcTarget {
  readonly tables: GcTables;
  readonly pathInfos: PathInfoService;
  readonly directories: SqliteDirectoryService;
  readonly packs: PackBlobService;
  readonly fence: WriteFence;
  /** Told the store path digests of deleted PathInfos, so caches stop serving them at once. */
  readonly forgetPaths?: (digests: readonly Uint8Array[]) => void;
}

export interface GcOptions {
  /** Decide and report, delete nothing. */
  readonly dryRun?: boolean;
  /** An upload record no narinfo claimed is a root this long (a push in progress); 0 when no server is running. */
  readonly uploadGraceMs?: number;
  /**
   * Blobs, chunks and Directories written this recently are kept though nothing refers to them yet: a gRPC client puts
   * them in calls before the one putting its PathInfo. Per pack file (its modification time) and per Directory.
   */
  readonly objectGraceMs?: number;
  readonly retention?: RetentionPolicy;
  /** Repack a pack once at most this share of it is live. */
  readonly repackBelow?: number;
  /** How long to wait for writers in flight before giving up this run. */
  readonly fenceTimeoutMs?: number;
  readonly now?: () => number;
  readonly atPhase?: (phase: GcPhase) => void | Promise<void>;
}

export interface GcReport {
  /** Why nothing was done (writers kept the fence longer than the timeout), if so. */
  readonly skipped?: string;
  readonly dryRun: boolean;
  /** Store path basenames evicted by retention. */
  readonly evicted: readonly string[];
  readonly directories: number;
  /** Pack records (whole small blobs and chunks) and chunk lists dropped, and the record bytes they held. */
  readonly records: number;
  readonly chunkLists: number;
  readonly objectBytes: number;
  readonly uploads: number;
  readonly buildLogs: number;
  readonly packsRemoved: number;
  /** Pack file bytes given back to the file system (removed packs, minus what repacking copied). */
  readonly diskBytesFreed: number;
  readonly durationMs: number;
  /** Of which mark and sweep, while writers were held off. */
  readonly fencedMs: number;
}

export const DEFAULT_UPLOAD_GRACE_MS = 24 * 60 * 60 * 1000;
/** A pack at most half live is rewritten: at worst each live byte is copied once per halving of the store. */
const DEFAULT_REPACK_BELOW = 0.5;
const DEFAULT_FENCE_TIMEOUT_MS = 10_000;

export async function collectGarbage(target: GcTarget, options: GcOptions = {}): Promise<GcReport> {
  const {
    dryRun = false,
    uploadGraceMs = DEFAULT_UPLOAD_GRACE_MS,
    objectGraceMs = 0,
    retention = {},
    repackBelow = DEFAULT_REPACK_BELOW,
    now = Date.now,
  } = options;
  const atPhase = options.atPhase ?? (() => undefined);
  const started = now();
  target.tables.lock(started);
  try {
    await atPhase('locked');
    const fenced = now();
    const swept = await target.fence.exclusive(
      () => markAndSweep(target, { dryRun, uploadGraceMs, objectGraceMs, retention, now: now(), atPhase }),
      options.fenceTimeoutMs ?? DEFAULT_FENCE_TIMEOUT_MS,
    );
    if (!swept) return { ...EMPTY, dryRun, skipped: 'writers in flight did not finish in time', durationMs: now() - started, fencedMs: 0 };
    const fencedMs = now() - fenced;
    await atPhase('repacking');
    const repacked = dryRun
      ? { packsRemoved: 0, bytesFreed: 0, bytesCopied: 0 }
      : await target.packs.repack(repackBelow, { beforeRemove: () => atPhase('repointed') });
    await atPhase('done');
    return {
      ...swept.value,
      packsRemoved: repacked.packsRemoved,
      diskBytesFreed: repacked.bytesFreed - repacked.bytesCopied,
      durationMs: now() - started,
      fencedMs,
    };
  } finally {
    target.tables.unlock();
  }
}

const EMPTY = { evicted: [], directories: 0, records: 0, chunkLists: 0, objectBytes: 0, uploads: 0, buildLogs: 0, packsRemoved: 0, diskBytesFreed: 0 } as const;

interface Run {
  readonly dryRun: boolean;
  readonly uploadGraceMs: number;
  readonly objectGraceMs: number;
  readonly retention: RetentionPolicy;
  readonly now: number;
  readonly atPhase: (phase: GcPhase) => void | Promise<void>;
}

async function markAndSweep(target: GcTarget, run: Run): Promise<Omit<GcReport, 'packsRemoved' | 'diskBytesFreed' | 'durationMs' | 'fencedMs'>> {
  const { tables, directories, packs } = target;
  const graph = await PathGraph.load(target.pathInfos);
  const pins = tables.pins().keys();
  const access = tables.accessTimes();
  const registered = tables.registrationTimes();
  const evicted = planEviction(graph, run.retention, pins, (key) => access.get(key) ?? registered.get(key) ?? 0, run.now);
  const evictedSet = new Set(evicted);

  const roots: Node[] = [];
  for (const [key, info] of graph.paths) if (!evictedSet.has(key)) roots.push(info.node);
  const staleUploads: Buffer[] = [];
  for (const upload of tables.uploads()) {
    const claimedByKept = upload.claimedBy !== null && graph.paths.has(upload.claimedBy) && !evictedSet.has(upload.claimedBy);
    const young = upload.claimedBy === null && upload.uploadedAt !== null && upload.uploadedAt >= run.now - run.uploadGraceMs;
    if (claimedByKept || young) roots.push(decodeRootNode(upload.rootNode).node);
    else staleUploads.push(upload.fileHash);
  }
  const keptDerivers = new Set<string>();
  const evictedDerivers = new Set<string>();
  for (const [key, info] of graph.paths) if (info.deriver) (evictedSet.has(key) ? evictedDerivers : keptDerivers).add(info.deriver.basename);
  const deadLogs: string[] = [];
  const live = new Set<string>();
  for (const { drv, log } of tables.buildLogs()) {
    if (evictedDerivers.has(drv) && !keptDerivers.has(drv)) deadLogs.push(drv);
    else live.add(Buffer.from(log).toString('hex'));
  }

  // Objects written within the object grace period are roots too, with what they name (a chunked blob's list whose
  // chunks are young is young itself).
  const youngSince = run.now - run.objectGraceMs;
  const young = new Set<string>();
  if (run.objectGraceMs > 0) {
    const youngPacks = packs.packsWrittenSince(youngSince);
    if (youngPacks.size > 0) for (const record of packs.index.allRecords()) if (youngPacks.has(record.pack)) young.add(record.digest.toHex());
  }
  const youngDirectories = run.objectGraceMs > 0 ? directories.writtenSince(youngSince) : [];
  const liveDirectories = await markDirectories(directories, roots, live, youngDirectories);
  for (const hex of young) live.add(hex);
  for (const list of packs.index.allChunkLists()) {
    const hex = list.digest.toHex();
    if (!live.has(hex) && !list.chunks.some((chunk) => young.has(chunk.digest.toHex()))) continue;
    live.add(hex);
    for (const chunk of list.chunks) live.add(chunk.digest.toHex());
  }
  const deadDirectories = directories.digests().filter((d) => !liveDirectories.has(d.toHex()));
  const deadObjects: B3Digest[] = [];
  for (const record of packs.index.allRecords()) if (!live.has(record.digest.toHex())) deadObjects.push(record.digest);
  for (const list of packs.index.allChunkLists()) if (!live.has(list.digest.toHex())) deadObjects.push(list.digest);
  await run.atPhase('marked');

  const names = evicted.map((key) => graph.basename(key));
  if (run.dryRun) {
    const places = deadObjects.map((d) => packs.index.record(d));
    const records = places.filter((p) => p !== null);
    return {
      dryRun: true,
      evicted: names,
      directories: deadDirectories.length,
      records: records.length,
      chunkLists: places.length - records.length,
      objectBytes: records.reduce((sum, p) => sum + RECORD_HEADER_BYTES + p.size, 0),
      uploads: staleUploads.length,
      buildLogs: deadLogs.length,
    };
  }
  const sweep = tables.db.transaction(() => {
    tables.deletePaths(evicted);
    const uploads = tables.deleteUploads(staleUploads);
    const buildLogs = tables.deleteBuildLogs(deadLogs);
    // Directories go with the objects they name, in this one transaction: a Directory still stored always has
    // its whole graph stored (requireStoredRoot and the putters rely on it).
    const dirs = directories.delete(deadDirectories);
    const objects = packs.deleteObjects(deadObjects);
    return { uploads, buildLogs, dirs, objects };
  });
  const result = sweep.immediate();
  if (evicted.length > 0) target.forgetPaths?.(evicted.map((key) => Buffer.from(key, 'hex')));
  await run.atPhase('swept');
  return {
    dryRun: false,
    evicted: names,
    directories: result.dirs,
    records: result.objects.records,
    chunkLists: result.objects.lists,
    objectBytes: result.objects.bytes,
    uploads: result.uploads,
    buildLogs: result.buildLogs,
  };
}

/** The hex digests of every Directory reachable from `roots` and `more`; adds every blob they name to `liveBlobs`. */
async function markDirectories(
  directories: SqliteDirectoryService,
  roots: readonly Node[],
  liveBlobs: Set<string>,
  more: readonly B3Digest[],
): Promise<Set<string>> {
  const seen = new Set<string>();
  const todo: B3Digest[] = [...more];
  for (const root of roots) {
    if (root.kind === 'file') liveBlobs.add(root.digest.toHex());
    if (root.kind === 'directory') todo.push(root.digest);
  }
  for (let digest = todo.pop(); digest !== undefined; digest = todo.pop()) {
    const hex = digest.toHex();
    if (seen.has(hex)) continue;
    seen.add(hex);
    const directory = await directories.get(digest);
    if (!directory) continue; // already missing: nothing under it can be reached through it
    for (const { node } of directory.entries) {
      if (node.kind === 'file') liveBlobs.add(node.digest.toHex());
      else if (node.kind === 'directory' && !seen.has(node.digest.toHex())) todo.push(node.digest);
    }
  }
  return seen;
}
