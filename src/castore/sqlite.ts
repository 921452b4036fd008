// The embedded metadata database (libsql, SQLite-compatible), shared by castore and the PathInfo service.
import Libsql from 'libsql';
import { NarBridgeError } from '../errors.js';

export type Database = Libsql.Database;

/** How long a writer waits for another connection's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed) the database file. WAL lets readers run beside the writer; synchronous=NORMAL
 * syncs at checkpoints rather than every commit, so a power cut may lose the newest commits but never
 * reorders them — a PathInfo committed after its directories cannot outlive them.
 */
export function openDatabase(path: string): Database {
  try {
    const db = new Libsql(path);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL)');
    return db;
  } catch (err) {
    throw new NarBridgeError('NB_ERR_STORAGE', `cannot open metadata database ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Brings `component`'s schema up to date: runs the steps after its recorded version, in one transaction.
 * Steps are append-only; never edit one that has shipped. A database from a newer release is refused.
 */
export function migrate(db: Database, component: string, steps: readonly string[]): void {
  // libsql reads a lone object argument as named parameters, so positional ones always go in an array.
  const row = db.prepare('SELECT version FROM schema_versions WHERE component = ?').get([component]);
  const version = row && typeof row === 'object' && 'version' in row && typeof row.version === 'number' ? row.version : 0;
  if (version > steps.length) {
    throw new NarBridgeError('NB_ERR_STORAGE', `${component} schema version ${version} is newer than this release (${steps.length})`);
  }
  if (version === steps.length) return;
  db.transaction(() => {
    for (const step of steps.slice(version)) db.exec(step);
    db.prepare('INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version')
      .run([component, steps.length]);
  }).immediate();
}

/**
 * `body` as one write transaction, or as part of the caller's when one is open on `db` (SQLite does not nest them):
 * how deletions of several components join one garbage-collection sweep.
 */
export function writeTransaction<A extends unknown[], R>(db: Database, body: (...args: A) => R): (...args: A) => R {
  const own = db.transaction(body);
  return (...args: A) => (db.inTransaction ? body(...args) : own.immediate(...args));
}
