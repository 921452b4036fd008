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
    // The busy timeout first: the journal-mode switch and the schema table below take locks, and another process on
    // the same file (a live server's flush beside a CLI command) must make them wait, not fail with "database is locked".
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
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
  const version = readRow('schema_versions', db.prepare('SELECT version FROM schema_versions WHERE component = ?').get([component]))?.integer('version') ?? 0;
  if (version > steps.length) {
    throw new NarBridgeError('NB_ERR_STORAGE', `${component} schema version ${version} is newer than this release (${steps.length})`);
  }
  if (version === steps.length) return;
  db.transaction(() => {
    for (const step of steps.slice(version)) db.exec(step);
    db.prepare('INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version').run([
      component,
      steps.length,
    ]);
  }).immediate();
}

/**
 * One result row, read by column. Rows come back untyped (objects, plus libsql's `_metadata`), and a BLOB is a
 * Buffer from get() but an ArrayBuffer from iterate(); every read goes through here, so a column holding the wrong
 * type (a corrupt or foreign database) is NB_ERR_STORAGE naming the column rather than a wrong value downstream.
 */
export interface Row {
  bytes(column: string): Uint8Array;
  bytesOrNull(column: string): Uint8Array | null;
  /** An INTEGER as a number; one beyond 2^53 is refused rather than rounded. */
  integer(column: string): number;
  integerOrNull(column: string): number | null;
  text(column: string): string;
}

/** What a statement's get() returned as a Row; null when there was no row. */
export function readRow(table: string, raw: unknown): Row | null {
  return raw === undefined ? null : objectRow(table, raw);
}

/** The rows of all() or iterate(), each as a Row. */
export function* readRows(table: string, raws: Iterable<unknown>): Generator<Row, void, undefined> {
  for (const raw of raws) yield objectRow(table, raw);
}

/**
 * What a raw(true) statement's get() returned (values in select order, which libsql builds about twice as fast as
 * objects) as a Row whose columns are `columns`, in that order; null when there was no row. The array is read in place.
 */
export function readTuple(table: string, columns: readonly string[], raw: unknown): Row | null {
  return raw === undefined ? null : tupleRow(table, columns, raw);
}

/** The rows of a raw(true) statement's all() or iterate(), each as a Row whose columns are `columns`. */
export function* readTuples(table: string, columns: readonly string[], raws: Iterable<unknown>): Generator<Row, void, undefined> {
  for (const raw of raws) yield tupleRow(table, columns, raw);
}

function objectRow(table: string, raw: unknown): Row {
  if (typeof raw !== 'object' || raw === null) notARow(table);
  return new ObjectRow(table, raw);
}

function tupleRow(table: string, columns: readonly string[], raw: unknown): Row {
  if (!Array.isArray(raw)) notARow(table);
  return new TupleRow(table, columns, raw);
}

function notARow(table: string): never {
  throw new NarBridgeError('NB_ERR_STORAGE', `metadata database: a ${table} row is not a row`);
}

/** The type checks of every Row; subclasses say only where a column's value is. */
abstract class CheckedRow implements Row {
  constructor(protected readonly table: string) {}

  /** The column's value; throws when the row has no such column. */
  protected abstract value(column: string): unknown;

  bytes(column: string): Uint8Array {
    return this.bytesOrNull(column) ?? this.#wrong(column, 'a BLOB', null);
  }

  bytesOrNull(column: string): Uint8Array | null {
    const value = this.value(column);
    if (value === null) return null;
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    return this.#wrong(column, 'a BLOB', value);
  }

  integer(column: string): number {
    return this.integerOrNull(column) ?? this.#wrong(column, 'an INTEGER', null);
  }

  integerOrNull(column: string): number | null {
    const value = this.value(column);
    if (value === null) return null;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
    if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    return this.#wrong(column, 'an INTEGER below 2^53', value);
  }

  text(column: string): string {
    const value = this.value(column);
    return typeof value === 'string' ? value : this.#wrong(column, 'TEXT', value);
  }

  protected missing(column: string): never {
    throw new NarBridgeError('NB_ERR_STORAGE', `metadata database: a ${this.table} row has no column ${column}`);
  }

  #wrong(column: string, expected: string, value: unknown): never {
    const got = value === null ? 'NULL' : typeof value;
    throw new NarBridgeError('NB_ERR_STORAGE', `metadata database: ${this.table}.${column} is not ${expected} (${got})`);
  }
}

/** A row as get(), all() and iterate() return it: an object keyed by column name. */
class ObjectRow extends CheckedRow {
  constructor(
    table: string,
    private readonly values: object,
  ) {
    super(table);
  }

  protected value(column: string): unknown {
    return Object.hasOwn(this.values, column) ? Reflect.get(this.values, column) : this.missing(column);
  }
}

/** A raw(true) row: values in the order of `columns`. */
class TupleRow extends CheckedRow {
  constructor(
    table: string,
    private readonly columns: readonly string[],
    private readonly values: readonly unknown[],
  ) {
    super(table);
  }

  protected value(column: string): unknown {
    const at = this.columns.indexOf(column);
    return at >= 0 && at < this.values.length ? this.values[at] : this.missing(column);
  }
}

/**
 * `body` as one write transaction, or as part of the caller's when one is open on `db` (SQLite does not nest them):
 * how deletions of several components join one garbage-collection sweep.
 */
export function writeTransaction<A extends unknown[], R>(db: Database, body: (...args: A) => R): (...args: A) => R {
  const own = db.transaction(body);
  return (...args: A) => (db.inTransaction ? body(...args) : own.immediate(...args));
}
