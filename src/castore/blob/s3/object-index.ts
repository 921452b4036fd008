// PackObjectIndex: where each blob or chunk lives among the pack objects in an object store (object, offset, length),
// which blobs are chunk lists, and how many live bytes each object holds (for GC to find objects worth repacking).
// SQLite in the data dir for a single node; PostgreSQL beside the PathInfos for replicas sharing one bucket.
import { NarBridgeError } from '../../../errors.js';
import type { CallOptions } from '../../call-options.js';
import type { B3Digest } from '../../digest.js';
import { bytesColumn, integerColumn, type PostgresDatabase, type Queryable } from '../../postgres.js';
import { migrate, readTuple, readTuples, type Database } from '../../sqlite.js';
import { RECORD_HEADER_BYTES } from '../pack/format.js';
import { EncodedChunks, encodeChunks, type ChunkList, type RecordPlace } from '../pack/pack-index.js';

/** One object uploaded, and what it holds: committed together once the object is in the store. */
export interface ObjectCommit {
  /** The object's key in the bucket (content-addressed), and its length. */
  readonly object: { readonly key: string; readonly bytes: number } | null;
  /** Records inside `object`: their header offsets and payload sizes. */
  readonly records: ReadonlyArray<{ readonly digest: B3Digest; readonly offset: number; readonly size: number }>;
  /** Chunk lists whose chunks are all committed by now (or in this commit). */
  readonly lists: readonly ChunkList[];
  /**
   * Makes sure `object` is (still) in the bucket, uploading it again if not; run by an index a garbage collector
   * sweeps (PostgreSQL) once the commit holds the object's row, as a GC may have deleted an object of the same name
   * (the same content) between the upload and the commit.
   */
  readonly recheck?: () => Promise<void>;
}

export interface PackObjectIndex {
  /** Places of those of `digests` that are committed, keyed by hex digest; `pack` is the object's id. */
  records(digests: readonly B3Digest[], opts?: CallOptions): Promise<Map<string, RecordPlace>>;
  chunkList(digest: B3Digest, opts?: CallOptions): Promise<EncodedChunks | null>;
  /** Whether the object is committed, as a record or a chunk list. */
  contains(digest: B3Digest, opts?: CallOptions): Promise<boolean>;
  /** The key of object `id` (ids come from `records`). */
  objectKey(id: number, opts?: CallOptions): Promise<string>;
  /**
   * In one transaction: the object (again, if a retry or another replica committed it first), its records (a digest
   * already placed elsewhere keeps its place; these bytes stay dead) and the lists. Adds the live bytes to the object.
   */
  commit(commit: ObjectCommit, opts?: CallOptions): Promise<void>;
  /** What is committed, for store statistics. */
  stats(opts?: CallOptions): Promise<ObjectIndexStats>;
}

export interface ObjectIndexStats {
  /** Records (blobs stored whole, and chunks), each distinct content once, and the sum of their lengths. */
  readonly records: number;
  readonly payloadBytes: number;
  /** Pack objects in the bucket, and their bytes (dead records included). */
  readonly objects: number;
  readonly objectBytes: number;
}

/** The PostgreSQL tables; the SQLite ones are the same with SQLite types. */
const POSTGRES_SCHEMA = [
  `CREATE TABLE object_packs (
     id bigserial PRIMARY KEY,
     key text NOT NULL UNIQUE,
     bytes bigint NOT NULL,
     live_bytes bigint NOT NULL
   );
   CREATE TABLE object_pack_records (
     digest bytea PRIMARY KEY,
     object_id bigint NOT NULL REFERENCES object_packs (id),
     "offset" bigint NOT NULL,
     size bigint NOT NULL
   );
   CREATE INDEX object_pack_records_by_object ON object_pack_records (object_id, "offset");
   CREATE TABLE object_chunked_blobs (
     digest bytea PRIMARY KEY,
     size bigint NOT NULL,
     chunks bytea NOT NULL
   )`,
  // When an object was last committed: GC keeps the records of young objects (their references may still be coming).
  'ALTER TABLE object_packs ADD COLUMN committed_at timestamptz NOT NULL DEFAULT now()',
];

const SQLITE_SCHEMA = [
  `CREATE TABLE object_packs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     bytes INTEGER NOT NULL,
     live_bytes INTEGER NOT NULL
   );
   CREATE TABLE object_pack_records (
     digest BLOB PRIMARY KEY NOT NULL,
     object_id INTEGER NOT NULL REFERENCES object_packs (id),
     offset INTEGER NOT NULL,
     size INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX object_pack_records_by_object ON object_pack_records (object_id, offset);
   CREATE TABLE object_chunked_blobs (
     digest BLOB PRIMARY KEY NOT NULL,
     size INTEGER NOT NULL,
     chunks BLOB NOT NULL
   ) WITHOUT ROWID;`,
];

const COMPONENT = 'castore.object_packs';
/** Digests per lookup query (SQLite's bound-parameter limit is far above; PostgreSQL takes one array). */
const LOOKUP_BATCH = 500;
const RECORD_COLUMNS = ['digest', 'object_id', 'offset', 'size'] as const;
/** The same query on both engines: one row of ObjectIndexStats. */
const STATS_QUERY = `SELECT (SELECT count(*) FROM object_pack_records) AS records,
  (SELECT coalesce(sum(size), 0) FROM object_pack_records) AS payload_bytes,
  (SELECT count(*) FROM object_packs) AS objects,
  (SELECT coalesce(sum(bytes), 0) FROM object_packs) AS object_bytes`;
const STATS_COLUMNS = ['records', 'payload_bytes', 'objects', 'object_bytes'] as const;

/** Object keys never change once written, so each is looked up once per process. */
class KeyCache {
  readonly #keys = new Map<number, string>();

  async get(id: number, load: () => Promise<string | null>): Promise<string> {
    const known = this.#keys.get(id);
    if (known !== undefined) return known;
    const key = await load();
    if (key === null) throw new NarBridgeError('NB_ERR_STORAGE', `object index: pack object ${id} is not indexed`);
    this.#keys.set(id, key);
    return key;
  }
}

function liveBytes(records: ObjectCommit['records']): number {
  return records.reduce((sum, r) => sum + RECORD_HEADER_BYTES + r.size, 0);
}

function listSize(list: ChunkList): number {
  return list.chunks.reduce((sum, c) => sum + c.size, 0);
}

export class SqlitePackObjectIndex implements PackObjectIndex {
  readonly #keys = new KeyCache();
  readonly #commit;

  constructor(private readonly db: Database) {
    migrate(db, COMPONENT, SQLITE_SCHEMA);
    const upsertObject = db.prepare(
      'INSERT INTO object_packs (key, bytes, live_bytes) VALUES (?, ?, 0) ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes RETURNING id',
    );
    const insertRecord = db.prepare('INSERT OR IGNORE INTO object_pack_records (digest, object_id, offset, size) VALUES (?, ?, ?, ?)');
    const insertList = db.prepare('INSERT OR IGNORE INTO object_chunked_blobs (digest, size, chunks) VALUES (?, ?, ?)');
    const addLive = db.prepare('UPDATE object_packs SET live_bytes = live_bytes + ? WHERE id = ?');
    this.#commit = db.transaction((commit: ObjectCommit) => {
      if (commit.object) {
        const row = readTuple('object_packs', ['id'], upsertObject.raw(true).get([commit.object.key, commit.object.bytes]));
        if (!row) throw new Error('object upsert returned no id');
        const id = row.integer('id');
        const inserted = commit.records.filter((r) => insertRecord.run([r.digest.bytes, id, r.offset, r.size]).changes > 0);
        addLive.run([liveBytes(inserted), id]);
      }
      for (const l of commit.lists) insertList.run([l.digest.bytes, listSize(l), encodeChunks(l.chunks)]);
    });
  }

  async records(digests: readonly B3Digest[]): Promise<Map<string, RecordPlace>> {
    const found = new Map<string, RecordPlace>();
    for (let at = 0; at < digests.length; at += LOOKUP_BATCH) {
      const batch = digests.slice(at, at + LOOKUP_BATCH);
      const sql = `SELECT digest, object_id, offset, size FROM object_pack_records WHERE digest IN (${batch.map(() => '?').join(',')})`;
      const rows = sqlite('read', () =>
        this.db
          .prepare(sql)
          .raw(true)
          .all(batch.map((d) => d.bytes)),
      );
      for (const row of readTuples('object_pack_records', RECORD_COLUMNS, rows)) {
        found.set(Buffer.from(row.bytes('digest')).toString('hex'), {
          pack: row.integer('object_id'),
          offset: row.integer('offset'),
          size: row.integer('size'),
        });
      }
    }
    return found;
  }

  async chunkList(digest: B3Digest): Promise<EncodedChunks | null> {
    const row = readTuple(
      'object_chunked_blobs',
      ['chunks'],
      sqlite('read', () => this.db.prepare('SELECT chunks FROM object_chunked_blobs WHERE digest = ?').raw(true).get([digest.bytes])),
    );
    return row ? new EncodedChunks(digest, Buffer.from(row.bytes('chunks'))) : null;
  }

  async contains(digest: B3Digest): Promise<boolean> {
    const sql =
      'SELECT EXISTS (SELECT 1 FROM object_pack_records WHERE digest = ?1) OR EXISTS (SELECT 1 FROM object_chunked_blobs WHERE digest = ?1) AS present';
    return (
      readTuple(
        'object_pack_records',
        ['present'],
        sqlite('read', () => this.db.prepare(sql).raw(true).get([digest.bytes])),
      )?.integer('present') === 1
    );
  }

  objectKey(id: number): Promise<string> {
    return this.#keys.get(id, async () => {
      const row = readTuple(
        'object_packs',
        ['key'],
        sqlite('read', () => this.db.prepare('SELECT key FROM object_packs WHERE id = ?').raw(true).get([id])),
      );
      return row ? row.text('key') : null;
    });
  }

  async commit(commit: ObjectCommit): Promise<void> {
    sqlite('write', () => this.#commit.immediate(commit));
  }

  async stats(): Promise<ObjectIndexStats> {
    const raw = sqlite('read', () => this.db.prepare(STATS_QUERY).raw(true).get([]));
    const row = readTuple('object_packs', STATS_COLUMNS, raw);
    if (!row) throw new NarBridgeError('NB_ERR_STORAGE', 'object index: statistics query returned no row');
    return {
      records: row.integer('records'),
      payloadBytes: row.integer('payload_bytes'),
      objects: row.integer('objects'),
      objectBytes: row.integer('object_bytes'),
    };
  }
}

function sqlite<T>(what: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    throw new NarBridgeError('NB_ERR_STORAGE', `object index: ${what} failed`, { cause: err });
  }
}

export class PostgresPackObjectIndex implements PackObjectIndex {
  readonly #keys = new KeyCache();

  private constructor(private readonly db: PostgresDatabase) {}

  /** Migrates the tables (under the advisory lock every PostgreSQL backend shares). */
  static async open(db: PostgresDatabase): Promise<PostgresPackObjectIndex> {
    await db.migrate(COMPONENT, POSTGRES_SCHEMA);
    return new PostgresPackObjectIndex(db);
  }

  async records(digests: readonly B3Digest[], opts?: CallOptions): Promise<Map<string, RecordPlace>> {
    const found = new Map<string, RecordPlace>();
    for (let at = 0; at < digests.length; at += LOOKUP_BATCH) {
      const batch = digests.slice(at, at + LOOKUP_BATCH).map((d) => Buffer.from(d.bytes));
      const rows = await this.db.query(
        'read object places',
        'SELECT digest, object_id, "offset", size FROM object_pack_records WHERE digest = ANY($1::bytea[])',
        [batch],
        opts,
      );
      for (const row of rows) {
        found.set(Buffer.from(bytesColumn(row, 'digest')).toString('hex'), {
          pack: integerColumn(row, 'object_id'),
          offset: integerColumn(row, 'offset'),
          size: integerColumn(row, 'size'),
        });
      }
    }
    return found;
  }

  async chunkList(digest: B3Digest, opts?: CallOptions): Promise<EncodedChunks | null> {
    const [row] = await this.db.query('read chunk list', 'SELECT chunks FROM object_chunked_blobs WHERE digest = $1', [digest.bytes], opts);
    return row === undefined ? null : new EncodedChunks(digest, Buffer.from(bytesColumn(row, 'chunks')));
  }

  async contains(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    const [row] = await this.db.query(
      'look up object',
      'SELECT (EXISTS (SELECT 1 FROM object_pack_records WHERE digest = $1) OR EXISTS (SELECT 1 FROM object_chunked_blobs WHERE digest = $1))::int AS present',
      [digest.bytes],
      opts,
    );
    return row !== undefined && integerColumn(row, 'present') === 1;
  }

  objectKey(id: number, opts?: CallOptions): Promise<string> {
    return this.#keys.get(id, async () => {
      const [row] = await this.db.query('read object key', 'SELECT key FROM object_packs WHERE id = $1', [id], opts);
      const key = row === undefined ? undefined : Reflect.get(row as object, 'key');
      return typeof key === 'string' ? key : null;
    });
  }

  async commit(commit: ObjectCommit, opts?: CallOptions): Promise<void> {
    await this.db.transaction(
      'commit pack object',
      async (tx) => {
        if (commit.object) await commitObject(tx, commit.object, commit.records, commit.recheck);
        if (commit.lists.length > 0) {
          await tx.query(
            `INSERT INTO object_chunked_blobs (digest, size, chunks)
             SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) ON CONFLICT (digest) DO NOTHING`,
            [commit.lists.map((l) => Buffer.from(l.digest.bytes)), commit.lists.map(listSize), commit.lists.map((l) => encodeChunks(l.chunks))],
          );
        }
      },
      opts,
    );
  }

  async stats(opts?: CallOptions): Promise<ObjectIndexStats> {
    const [row] = await this.db.query('read object statistics', STATS_QUERY, [], opts);
    return {
      records: integerColumn(row, 'records'),
      payloadBytes: integerColumn(row, 'payload_bytes'),
      objects: integerColumn(row, 'objects'),
      objectBytes: integerColumn(row, 'object_bytes'),
    };
  }
}

/**
 * The object's row first: it stays locked to the end of the transaction, and a GC deletes an object from the bucket
 * only with its row locked (and no record in it), so once the row is ours the re-check sees what the bucket will keep.
 */
async function commitObject(
  tx: Queryable,
  object: NonNullable<ObjectCommit['object']>,
  records: ObjectCommit['records'],
  recheck: ObjectCommit['recheck'],
): Promise<void> {
  const [row] = await tx.query(
    `INSERT INTO object_packs (key, bytes, live_bytes) VALUES ($1, $2, 0)
     ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, committed_at = now() RETURNING id`,
    [object.key, object.bytes],
  );
  const id = integerColumn(row, 'id');
  await recheck?.();
  const inserted = await tx.query(
    `INSERT INTO object_pack_records (digest, object_id, "offset", size)
     SELECT d, $1, o, s FROM unnest($2::bytea[], $3::bigint[], $4::bigint[]) AS r (d, o, s)
     ON CONFLICT (digest) DO NOTHING RETURNING size`,
    [id, records.map((r) => Buffer.from(r.digest.bytes)), records.map((r) => r.offset), records.map((r) => r.size)],
  );
  const live = inserted.reduce<number>((sum, r) => sum + RECORD_HEADER_BYTES + integerColumn(r, 'size'), 0);
  await tx.query('UPDATE object_packs SET live_bytes = live_bytes + $1 WHERE id = $2', [live, id]);
}
