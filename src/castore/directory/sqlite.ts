// SqliteDirectoryService: canonical Directory bytes in the embedded database, keyed by digest.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import { migrate, readRow, readTuples, writeTransaction, type Database } from '../sqlite.js';
import { ValidatingPutter, type PendingDirectory } from './putter.js';
import type { DirectoryPutter, DirectoryService } from './service.js';
import { decodeStoredDirectory } from './stored.js';
import { traverseDirectories } from './traverse.js';

/** Append-only; see migrate(). `size` is kept beside the bytes so putters check children without decoding. */
const SCHEMA = [
  `CREATE TABLE castore_directories (
     digest BLOB PRIMARY KEY NOT NULL CHECK (length(digest) = 32),
     size INTEGER NOT NULL,
     data BLOB NOT NULL
   )`,
  // Milliseconds since the epoch of the last put (NULL: stored before times were kept). GC keeps a Directory nothing
  // refers to yet for a grace period after it was put: a gRPC client puts a PathInfo naming it in a later call.
  'ALTER TABLE castore_directories ADD COLUMN written_at INTEGER',
] as const;

function storageError(what: string, err: unknown): NarBridgeError {
  return new NarBridgeError('NB_ERR_STORAGE', `directory store: ${what} failed`, { cause: err });
}

/** Runs a statement, turning driver failures into NB_ERR_STORAGE. */
function run<T>(what: string, statement: () => T): T {
  try {
    return statement();
  } catch (err) {
    throw storageError(what, err);
  }
}

export class SqliteDirectoryService implements DirectoryService {
  readonly #select;
  readonly #selectSize;
  readonly #insertBatch;
  readonly #deleteBatch;
  readonly #digests;
  readonly #writtenSince;

  constructor(
    db: Database,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'castore.directories', SCHEMA);
    // libsql reads a lone object argument as named parameters, so positional ones always go in an array.
    this.#select = db.prepare('SELECT data FROM castore_directories WHERE digest = ?');
    this.#selectSize = db.prepare('SELECT size FROM castore_directories WHERE digest = ?');
    const insert = db.prepare(
      'INSERT INTO castore_directories (digest, size, data, written_at) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET written_at = excluded.written_at',
    );
    this.#insertBatch = db.transaction((batch: readonly PendingDirectory[]) => {
      const at = this.now();
      for (const { digest, directory, bytes } of batch) insert.run([digest.bytes, directory.size, bytes, at]);
    });
    const remove = db.prepare('DELETE FROM castore_directories WHERE digest = ?');
    this.#deleteBatch = writeTransaction(db, (digests: readonly B3Digest[]): number => digests.reduce((n, d) => n + remove.run([d.bytes]).changes, 0));
    this.#digests = db.prepare('SELECT digest FROM castore_directories').raw(true);
    this.#writtenSince = db.prepare('SELECT digest FROM castore_directories WHERE written_at >= ?').raw(true);
  }

  /**
   * Every stored digest. Collected before returning: a caller deleting some of them (GC) must not do it while a
   * statement over the table is still stepping.
   */
  digests(): B3Digest[] {
    return Array.from(
      readTuples(
        'castore_directories',
        ['digest'],
        run('read', () => this.#digests.all([])),
      ),
      (row) => B3Digest.parse(row.bytes('digest')),
    );
  }

  /** The Directories put at or after `since` (milliseconds since the epoch). */
  writtenSince(since: number): B3Digest[] {
    return Array.from(
      readTuples(
        'castore_directories',
        ['digest'],
        run('read', () => this.#writtenSince.all([since])),
      ),
      (row) => B3Digest.parse(row.bytes('digest')),
    );
  }

  /**
   * Deletes `digests` in one transaction (synchronous, so it can join a caller's transaction on the same database);
   * returns how many were stored. The caller deletes whole unreachable graphs at once: a stored Directory must keep
   * implying its whole graph is stored (requireStoredRoot relies on it).
   */
  delete(digests: readonly B3Digest[]): number {
    return run('write', () => this.#deleteBatch(digests));
  }

  async get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null> {
    opts?.signal?.throwIfAborted();
    const row = readRow(
      'castore_directories',
      run('read', () => this.#select.get([digest.bytes])),
    );
    if (!row) return null;
    return decodeStoredDirectory(digest, row.bytes('data'));
  }

  getRecursive(root: B3Digest, opts?: CallOptions): AsyncIterable<Directory> {
    return traverseDirectories(root, (d, o) => this.get(d, o), opts);
  }

  putter(opts?: CallOptions): DirectoryPutter {
    return new ValidatingPutter(
      {
        storedSize: async (digest) => {
          return (
            readRow(
              'castore_directories',
              run('read', () => this.#selectSize.get([digest.bytes])),
            )?.integer('size') ?? null
          );
        },
        write: async (batch) => run('write', () => this.#insertBatch.immediate(batch)),
      },
      opts,
    );
  }
}
