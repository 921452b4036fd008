// What garbage collection keeps in the embedded database beside the store: the one-GC-at-a-time lock, pins, and
// when each path was last asked for. Also the few statements GC runs on the tables of other components (path_infos,
// nar_uploads, build_logs): a sweep deletes across all of them in one transaction, which only SQL on the one
// database can do.
import { isProcessAlive, migrate, readRow, readRows, readTuples, type Database } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';

const SCHEMA = [
  `CREATE TABLE gc_lock (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     pid INTEGER NOT NULL,
     started_at INTEGER NOT NULL
   );
   CREATE TABLE gc_pins (
     digest BLOB PRIMARY KEY NOT NULL, -- 20-byte store path digest
     pinned_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE path_access (
     digest BLOB PRIMARY KEY NOT NULL, -- 20-byte store path digest
     accessed_at INTEGER NOT NULL      -- milliseconds since the epoch of the last narinfo lookup (batched)
   ) WITHOUT ROWID;`,
  // Servers with the data dir open: `nar-bridge gc` beside one keeps a push's half-way upload (its grace period).
  'CREATE TABLE gc_servers (pid INTEGER PRIMARY KEY, started_at INTEGER NOT NULL)',
  // When the last run started, whichever process ran it: the workers of a server take turns by it.
  'CREATE TABLE gc_runs (id INTEGER PRIMARY KEY CHECK (id = 1), started_at INTEGER NOT NULL)',
];

/** The columns of the raw(true) statements, in select order. */
const UPLOAD_COLUMNS = ['file_sha256', 'root_node', 'claimed_by', 'uploaded_at'] as const;
const BUILD_LOG_COLUMNS = ['drv', 'log_blake3'] as const;

/** Store path digests as hex, the key GC's in-memory sets use. */
export type PathKey = string;

export function pathKey(digest: Uint8Array): PathKey {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
}

export class GcTables {
  constructor(readonly db: Database) {
    migrate(db, 'gc', SCHEMA);
  }

  /**
   * Takes the GC lock for this process; a lock held by a process that is gone (kill -9 mid-GC) is taken over.
   * Throws NB_ERR_CONFLICT while another live process holds it.
   */
  lock(now: number): void {
    const take = this.db.transaction(() => {
      const holder = this.#otherLockHolder();
      if (holder !== null) throw new NarBridgeError('NB_ERR_CONFLICT', `another garbage collection is running (pid ${holder})`);
      this.db.prepare('INSERT OR REPLACE INTO gc_lock (id, pid, started_at) VALUES (1, ?, ?)').run([process.pid, now]);
      this.db.prepare('INSERT OR REPLACE INTO gc_runs (id, started_at) VALUES (1, ?)').run([now]);
    });
    take.immediate();
  }

  /**
   * Whether a scheduled run is this process's turn: none is running elsewhere and none started in the last
   * `minGapMs`. A turn taken counts as a run started now, so of several workers ticking together one runs.
   */
  takeTurn(now: number, minGapMs: number): boolean {
    const take = this.db.transaction((): boolean => {
      if (this.#otherLockHolder() !== null) return false;
      const last = readRow('gc_runs', this.db.prepare('SELECT started_at FROM gc_runs WHERE id = 1').get([]))?.integer('started_at');
      if (last !== undefined && last > now - minGapMs) return false;
      this.db.prepare('INSERT OR REPLACE INTO gc_runs (id, started_at) VALUES (1, ?)').run([now]);
      return true;
    });
    return take.immediate();
  }

  /** The live process other than this one holding the GC lock, if any. */
  #otherLockHolder(): number | null {
    const holder = readRow('gc_lock', this.db.prepare('SELECT pid FROM gc_lock WHERE id = 1').get([]))?.integer('pid');
    return holder !== undefined && holder !== process.pid && isProcessAlive(holder) ? holder : null;
  }

  unlock(): void {
    this.db.prepare('DELETE FROM gc_lock WHERE id = 1 AND pid = ?').run([process.pid]);
  }

  /** Notes that this process serves the data dir. */
  registerServer(now: number): void {
    this.db.prepare('INSERT OR REPLACE INTO gc_servers (pid, started_at) VALUES (?, ?)').run([process.pid, now]);
  }

  unregisterServer(): void {
    this.db.prepare('DELETE FROM gc_servers WHERE pid = ?').run([process.pid]);
  }

  /** The live processes other than this one serving the data dir; rows of processes that are gone (kill -9) are dropped. */
  liveServers(): number[] {
    const pids = Array.from(readRows('gc_servers', this.db.prepare('SELECT pid FROM gc_servers').all([])), (row) => row.integer('pid'));
    return pids.filter((pid) => {
      if (pid === process.pid) return false;
      if (isProcessAlive(pid)) return true;
      this.db.prepare('DELETE FROM gc_servers WHERE pid = ?').run([pid]);
      return false;
    });
  }

  pins(): Map<PathKey, number> {
    return this.#timesByPath('gc_pins', 'pinned_at', 'SELECT digest, pinned_at FROM gc_pins');
  }

  pin(digests: readonly Uint8Array[], now: number): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO gc_pins (digest, pinned_at) VALUES (?, ?)');
    this.db
      .transaction(() => {
        for (const d of digests) insert.run([Buffer.from(d), now]);
      })
      .immediate();
  }

  /** How many of `digests` were pinned. */
  unpin(digests: readonly Uint8Array[]): number {
    const remove = this.db.prepare('DELETE FROM gc_pins WHERE digest = ?');
    return this.db.transaction((): number => digests.reduce((n, d) => n + remove.run([Buffer.from(d)]).changes, 0)).immediate();
  }

  /** Last access per path (only paths ever looked up). */
  accessTimes(): Map<PathKey, number> {
    return this.#timesByPath('path_access', 'accessed_at', 'SELECT digest, accessed_at FROM path_access');
  }

  recordAccess(times: ReadonlyMap<PathKey, number>): void {
    const upsert = this.db.prepare(
      'INSERT INTO path_access (digest, accessed_at) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET accessed_at = max(accessed_at, excluded.accessed_at)',
    );
    this.db
      .transaction(() => {
        for (const [key, at] of times) upsert.run([Buffer.from(key, 'hex'), at]);
      })
      .immediate();
  }

  /** When each path was registered (null for paths stored before times were kept). */
  registrationTimes(): Map<PathKey, number> {
    return this.#timesByPath('path_infos', 'registered_at', 'SELECT digest, registered_at FROM path_infos WHERE registered_at IS NOT NULL');
  }

  /** Upload records: root node bytes, who claimed them, when uploaded. */
  uploads(): Array<{ fileHash: Buffer; rootNode: Uint8Array; claimedBy: PathKey | null; uploadedAt: number | null }> {
    const rows = this.db.prepare('SELECT file_sha256, root_node, claimed_by, uploaded_at FROM nar_uploads').raw(true).all([]);
    return Array.from(readTuples('nar_uploads', UPLOAD_COLUMNS, rows), (row) => {
      const claimedBy = row.bytesOrNull('claimed_by');
      return {
        fileHash: Buffer.from(row.bytes('file_sha256')),
        rootNode: row.bytes('root_node'),
        claimedBy: claimedBy === null ? null : pathKey(claimedBy),
        uploadedAt: row.integerOrNull('uploaded_at'),
      };
    });
  }

  deleteUploads(fileHashes: readonly Buffer[]): number {
    const remove = this.db.prepare('DELETE FROM nar_uploads WHERE file_sha256 = ?');
    return fileHashes.reduce((n, f) => n + remove.run([f]).changes, 0);
  }

  deleteUploadsClaimedBy(keys: readonly PathKey[]): number {
    const remove = this.db.prepare('DELETE FROM nar_uploads WHERE claimed_by = ?');
    return keys.reduce((n, k) => n + remove.run([Buffer.from(k, 'hex')]).changes, 0);
  }

  /** Build logs: drv basename → log blob digest. */
  buildLogs(): Array<{ drv: string; log: Uint8Array }> {
    const rows = this.db.prepare('SELECT drv, log_blake3 FROM build_logs').raw(true).all([]);
    return Array.from(readTuples('build_logs', BUILD_LOG_COLUMNS, rows), (row) => ({ drv: row.text('drv'), log: row.bytes('log_blake3') }));
  }

  deleteBuildLogs(drvs: readonly string[]): number {
    const remove = this.db.prepare('DELETE FROM build_logs WHERE drv = ?');
    return drvs.reduce((n, d) => n + remove.run([d]).changes, 0);
  }

  /** Deletes PathInfos (and their access times and pins' absence is checked by the caller). */
  deletePaths(keys: readonly PathKey[]): number {
    const remove = this.db.prepare('DELETE FROM path_infos WHERE digest = ?');
    const forget = this.db.prepare('DELETE FROM path_access WHERE digest = ?');
    return keys.reduce((n, k) => {
      forget.run([Buffer.from(k, 'hex')]);
      return n + remove.run([Buffer.from(k, 'hex')]).changes;
    }, 0);
  }

  /** `select` reads (digest, `column`) rows of `table`, raw: these run over every path. */
  #timesByPath(table: string, column: string, select: string): Map<PathKey, number> {
    const rows = readTuples(table, ['digest', column], this.db.prepare(select).raw(true).all([]));
    return new Map(Array.from(rows, (row) => [pathKey(row.bytes('digest')), row.integer(column)]));
  }
}
