// PostgresDirectoryService: canonical Directory bytes in PostgreSQL, keyed by digest, shared by every replica.
import { Buffer } from 'node:buffer';
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import { bytesColumn, integerColumn, type PostgresDatabase } from '../postgres.js';
import { ValidatingPutter } from './putter.js';
import type { DirectoryPutter, DirectoryService } from './service.js';
import { decodeStoredDirectory } from './stored.js';
import { traverseDirectoryLevels } from './traverse.js';

/** Append-only; see PostgresDatabase.migrate. The same table, bytes and component name as the SQLite backend. */
const SCHEMA = [
  `CREATE TABLE castore_directories (
     digest bytea PRIMARY KEY CHECK (length(digest) = 32),
     size bigint NOT NULL,
     data bytea NOT NULL
   )`,
  // When a Directory was last put: GC keeps young ones (a gRPC client's PathInfo naming them may still be coming).
  'ALTER TABLE castore_directories ADD COLUMN written_at timestamptz NOT NULL DEFAULT now()',
] as const;

/** Digests per query of a getRecursive level: a few hundred rows of at most a few KiB each, typically. */
const GET_MANY_BATCH = 256;

export class PostgresDirectoryService implements DirectoryService {
  private constructor(private readonly db: PostgresDatabase) {}

  /** Migrates the schema first (once per start, under the database's advisory lock). */
  static async open(db: PostgresDatabase): Promise<PostgresDirectoryService> {
    await db.migrate('castore.directories', SCHEMA);
    return new PostgresDirectoryService(db);
  }

  async get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null> {
    const [row] = await this.db.query('read directory', 'SELECT data FROM castore_directories WHERE digest = $1', [digest.bytes], opts);
    return row === undefined ? null : decodeStoredDirectory(digest, bytesColumn(row, 'data'));
  }

  /** One query per level of the graph (per GET_MANY_BATCH directories of it), not one per Directory. */
  getRecursive(root: B3Digest, opts?: CallOptions): AsyncIterable<Directory> {
    return traverseDirectoryLevels(root, (digests, o) => this.#getMany(digests, o), GET_MANY_BATCH, opts);
  }

  async #getMany(digests: readonly B3Digest[], opts?: CallOptions): Promise<ReadonlyArray<Directory | null>> {
    const rows = await this.db.query(
      'read directories',
      'SELECT digest, data FROM castore_directories WHERE digest = ANY($1::bytea[])',
      [digests.map((d) => d.bytes)],
      opts,
    );
    const found = new Map(rows.map((row) => [Buffer.from(bytesColumn(row, 'digest')).toString('hex'), bytesColumn(row, 'data')]));
    return digests.map((digest) => {
      const bytes = found.get(digest.toHex());
      return bytes === undefined ? null : decodeStoredDirectory(digest, bytes);
    });
  }

  /** How many Directories are stored, for store statistics. */
  async count(opts?: CallOptions): Promise<number> {
    const [row] = await this.db.query('count directories', 'SELECT count(*) AS n FROM castore_directories', [], opts);
    return integerColumn(row, 'n');
  }

  putter(opts?: CallOptions): DirectoryPutter {
    return new ValidatingPutter(
      {
        storedSize: async (digest) => {
          const [row] = await this.db.query('read directory size', 'SELECT size FROM castore_directories WHERE digest = $1', [digest.bytes], opts);
          return row === undefined ? null : integerColumn(row, 'size');
        },
        // One statement per batch, so the batch lands whole or not at all; a directory already there is the same bytes
        // (its time is renewed: it is about to be referred to again).
        write: async (batch) => {
          await this.db.query(
            'write directories',
            `INSERT INTO castore_directories (digest, size, data)
           SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) ON CONFLICT (digest) DO UPDATE SET written_at = now()`,
            [batch.map((d) => d.digest.bytes), batch.map((d) => d.directory.size), batch.map((d) => d.bytes)],
            opts,
          );
        },
      },
      opts,
    );
  }
}
