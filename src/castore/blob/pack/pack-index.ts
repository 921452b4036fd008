// PackIndex: where each object lives (pack, offset, length), which blobs are chunk lists, and how full each pack
// is — in SQLite, beside the rest of the metadata, so one transaction commits a whole flush.
import { NarBridgeError } from '../../../errors.js';
import { B3_DIGEST_LENGTH, B3Digest } from '../../digest.js';
import { migrate, readRow, readRows, readTuple, writeTransaction, type Database, type Row } from '../../sqlite.js';
import type { ChunkMeta } from '../service.js';
import { RECORD_HEADER_BYTES } from './format.js';

const SCHEMA = [
  `CREATE TABLE pack_files (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     durable_bytes INTEGER NOT NULL, -- fsynced and committed: everything past it is an uncommitted tail
     live_bytes INTEGER NOT NULL,    -- bytes of records the index still points at (headers included)
     owner_pid INTEGER               -- the process appending to it; NULL once sealed
   );
   CREATE TABLE pack_records (
     digest BLOB PRIMARY KEY NOT NULL,
     pack INTEGER NOT NULL REFERENCES pack_files (id),
     offset INTEGER NOT NULL,        -- of the record header
     size INTEGER NOT NULL           -- of the payload
   ) WITHOUT ROWID;
   CREATE INDEX pack_records_by_place ON pack_records (pack, offset);
   CREATE TABLE pack_chunked_blobs (
     digest BLOB PRIMARY KEY NOT NULL,
     size INTEGER NOT NULL,
     chunks BLOB NOT NULL            -- 40 bytes per chunk: blake3 digest, u64 LE size
   ) WITHOUT ROWID;`,
];

/** Where a record is: its header starts at `offset` in pack `pack`; `size` is the payload length. */
export interface RecordPlace {
  readonly pack: number;
  readonly offset: number;
  readonly size: number;
}

export interface IndexedRecord extends RecordPlace {
  readonly digest: B3Digest;
}

export interface PackRow {
  readonly id: number;
  readonly durableBytes: number;
  readonly liveBytes: number;
  readonly ownerPid: number | null;
}

export interface ChunkList {
  readonly digest: B3Digest;
  readonly chunks: readonly ChunkMeta[];
}

/** What deleting objects dropped: index rows of records and of chunk lists, and the record bytes (headers included). */
export interface ObjectDeletion {
  readonly records: number;
  readonly lists: number;
  readonly bytes: number;
}

/** What one flush commits: records and chunk lists made durable, and each touched pack's new durable length. */
export interface IndexCommit {
  readonly records: readonly IndexedRecord[];
  readonly lists: readonly ChunkList[];
  readonly packs: ReadonlyArray<{ readonly id: number; readonly durableBytes: number; readonly sealed: boolean }>;
}

const CHUNK_ENTRY_BYTES = B3_DIGEST_LENGTH + 8;
/** Digests looked up with one statement: a read-ahead batch of small files is a few hundred at most. */
const LOOKUP_BATCH = 1000;
const PAGE_ROWS = 10_000;
/** The columns of the raw(true) statements, in select order. */
const PLACE_COLUMNS = ['pack', 'offset', 'size'] as const;
const LIST_COLUMNS = ['chunks'] as const;
const LOOKUP_COLUMNS = ['places'] as const;
const PLACE_AT_COLUMNS = ['position', 'pack', 'offset', 'size'] as const;
const CONTAINS_COLUMNS = ['present'] as const;
const DELETED_COLUMNS = ['pack', 'size'] as const;

export class PackIndex {
  readonly #record;
  readonly #contains;
  readonly #list;
  readonly #allocate;
  readonly #commit;
  readonly #packs;
  readonly #setDurable;
  readonly #deletePack;
  readonly #seal;
  readonly #lookup;
  readonly #delete;
  readonly #repoint;
  readonly #drop;

  constructor(private readonly db: Database) {
    migrate(db, 'castore.packs', SCHEMA);
    // libsql reads a lone object argument as named parameters, so positional ones always go in an array.
    // Lookups run once or twice per file ingested or served: rows as arrays, which libsql builds about twice as fast.
    this.#record = db.prepare('SELECT pack, offset, size FROM pack_records WHERE digest = ?').raw(true);
    // Many digests in one statement: they go in as one blob (32 bytes each) and the places come back as one JSON text
    // of [position, pack, offset, size] rows, each checked as a row would be. About 1.1 µs a digest, where
    // `digest IN (?, ?, …)` returning a row each took 4.7 and a get per digest 6: libsql's cost is per value bound and
    // per value returned, not SQLite's lookup.
    this.#lookup = db
      .prepare(
        `WITH RECURSIVE wanted (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM wanted WHERE i + 1 < ?2)
         SELECT json_group_array(json_array(i, pack, offset, size)) AS places FROM wanted JOIN pack_records ON digest = substr(?1, i * ${B3_DIGEST_LENGTH} + 1, ${B3_DIGEST_LENGTH})`,
      )
      .raw(true);
    this.#list = db.prepare('SELECT chunks FROM pack_chunked_blobs WHERE digest = ?').raw(true);
    this.#contains = db
      .prepare('SELECT EXISTS (SELECT 1 FROM pack_records WHERE digest = ?1) OR EXISTS (SELECT 1 FROM pack_chunked_blobs WHERE digest = ?1) AS present')
      .raw(true);
    this.#allocate = db.prepare('INSERT INTO pack_files (durable_bytes, live_bytes, owner_pid) VALUES (?, 0, ?)');
    this.#packs = db.prepare('SELECT id, durable_bytes, live_bytes, owner_pid FROM pack_files ORDER BY id');
    this.#setDurable = db.prepare('UPDATE pack_files SET durable_bytes = ? WHERE id = ?');
    this.#deletePack = db.prepare('DELETE FROM pack_files WHERE id = ?');
    this.#seal = db.prepare('UPDATE pack_files SET owner_pid = NULL WHERE id = ?');
    const deleteRecordsIn = db.prepare('DELETE FROM pack_records WHERE pack = ?');
    this.#drop = writeTransaction(db, (pack: number) => {
      deleteRecordsIn.run([pack]);
      this.#deletePack.run([pack]);
    });
    const insertRecord = db.prepare('INSERT OR IGNORE INTO pack_records (digest, pack, offset, size) VALUES (?, ?, ?, ?)');
    const insertList = db.prepare('INSERT OR IGNORE INTO pack_chunked_blobs (digest, size, chunks) VALUES (?, ?, ?)');
    const addLive = db.prepare('UPDATE pack_files SET live_bytes = live_bytes + ? WHERE id = ?');
    const packUpdate = db.prepare('UPDATE pack_files SET durable_bytes = ?, owner_pid = CASE WHEN ? THEN NULL ELSE owner_pid END WHERE id = ?');
    this.#commit = db.transaction((commit: IndexCommit) => {
      const live = new Map<number, number>();
      for (const r of commit.records) {
        // A record another writer committed first is a duplicate: its bytes stay dead until a repack.
        if (insertRecord.run([r.digest.bytes, r.pack, r.offset, r.size]).changes > 0) live.set(r.pack, (live.get(r.pack) ?? 0) + RECORD_HEADER_BYTES + r.size);
      }
      for (const l of commit.lists) insertList.run([l.digest.bytes, l.chunks.reduce((s, c) => s + c.size, 0), encodeChunks(l.chunks)]);
      for (const p of commit.packs) packUpdate.run([p.durableBytes, p.sealed ? 1 : 0, p.id]);
      for (const [pack, bytes] of live) addLive.run([bytes, pack]);
    });
    const deleteRecord = db.prepare('DELETE FROM pack_records WHERE digest = ? RETURNING pack, size').raw(true);
    const deleteList = db.prepare('DELETE FROM pack_chunked_blobs WHERE digest = ?');
    this.#delete = writeTransaction(db, (digests: readonly B3Digest[]): ObjectDeletion => {
      let records = 0;
      let bytes = 0;
      let lists = 0;
      const dead = new Map<number, number>();
      for (const digest of digests) {
        lists += deleteList.run([digest.bytes]).changes;
        const row = readTuple('pack_records', DELETED_COLUMNS, deleteRecord.get([digest.bytes]));
        if (!row) continue;
        const pack = row.integer('pack');
        const gone = RECORD_HEADER_BYTES + row.integer('size');
        records++;
        bytes += gone;
        dead.set(pack, (dead.get(pack) ?? 0) + gone);
      }
      for (const [pack, gone] of dead) addLive.run([-gone, pack]);
      return { records, lists, bytes };
    });
    const move = db.prepare('UPDATE pack_records SET pack = ?, offset = ? WHERE digest = ? AND pack = ?');
    this.#repoint = writeTransaction(db, (from: number, to: number, durableBytes: number, moved: readonly IndexedRecord[]) => {
      let live = 0;
      for (const r of moved) if (move.run([to, r.offset, r.digest.bytes, from]).changes > 0) live += RECORD_HEADER_BYTES + r.size;
      packUpdate.run([durableBytes, 1, to]);
      addLive.run([live, to]);
      // Whatever still points at `from` was deleted meanwhile or never moved: nothing may point at it after this.
      this.db.prepare('DELETE FROM pack_records WHERE pack = ?').run([from]);
      this.#deletePack.run([from]);
    });
  }

  /**
   * Drops the index rows of `digests` (records and chunk lists) in one transaction, taking their bytes off their
   * packs' live counts; what is not indexed is skipped. The bytes stay in the packs until a repack.
   */
  deleteObjects(digests: readonly B3Digest[]): ObjectDeletion {
    return run('write', () => this.#delete(digests));
  }

  /** The records of one pack, in file order. */
  recordsIn(pack: number): IndexedRecord[] {
    const rows = run('read', () => this.db.prepare('SELECT digest, pack, offset, size FROM pack_records WHERE pack = ? ORDER BY offset').all([pack]));
    return Array.from(readRows('pack_records', rows), indexedRecord);
  }

  /**
   * Points the records copied out of pack `from` at their places in pack `to` (fsynced up to `durableBytes`, which
   * seals it) and drops `from`, in one transaction: a crash leaves either the old pack in use or the new one.
   */
  repoint(from: number, to: number, durableBytes: number, moved: readonly IndexedRecord[]): void {
    run('write', () => this.#repoint(from, to, durableBytes, moved));
  }

  record(digest: B3Digest): RecordPlace | null {
    const row = readTuple(
      'pack_records',
      PLACE_COLUMNS,
      run('read', () => this.#record.get([digest.bytes])),
    );
    return row ? recordPlace(row) : null;
  }

  /** Whether the object is indexed, as a record or a chunk list: one query. */
  contains(digest: B3Digest): boolean {
    return (
      readTuple(
        'pack_records',
        CONTAINS_COLUMNS,
        run('read', () => this.#contains.get([digest.bytes])),
      )?.integer('present') === 1
    );
  }

  /** Where each of `digests` is, in the same order (undefined for one not indexed); one query per LOOKUP_BATCH. */
  places(digests: readonly B3Digest[]): Array<RecordPlace | undefined> {
    const places = new Array<RecordPlace | undefined>(digests.length).fill(undefined);
    for (let at = 0; at < digests.length; at += LOOKUP_BATCH) {
      const batch = digests.slice(at, at + LOOKUP_BATCH);
      const json = readTuple(
        'pack_records',
        LOOKUP_COLUMNS,
        run('read', () => this.#lookup.get([Buffer.concat(batch.map((d) => d.bytes)), batch.length])),
      )?.text('places');
      for (const row of JSON.parse(json ?? '[]') as unknown[]) {
        const place = readTuple('pack_records', PLACE_AT_COLUMNS, row);
        if (place) places[at + place.integer('position')] = recordPlace(place);
      }
    }
    return places;
  }

  chunkList(digest: B3Digest): EncodedChunks | null {
    const row = readTuple(
      'pack_chunked_blobs',
      LIST_COLUMNS,
      run('read', () => this.#list.get([digest.bytes])),
    );
    return row ? new EncodedChunks(digest, blobColumn(row.bytes('chunks'))) : null;
  }

  /** A new pack owned by `pid`, holding just its header so far. */
  allocatePack(pid: number, headerBytes: number): number {
    return Number(run('write', () => this.#allocate.run([headerBytes, pid])).lastInsertRowid);
  }

  packs(): PackRow[] {
    return Array.from(
      readRows(
        'pack_files',
        run('read', () => this.#packs.all([])),
      ),
      (r) => ({
        id: r.integer('id'),
        durableBytes: r.integer('durable_bytes'),
        liveBytes: r.integer('live_bytes'),
        ownerPid: r.integerOrNull('owner_pid'),
      }),
    );
  }

  /** Commits records, chunk lists and packs' new durable lengths together: call only once those bytes are fsynced. */
  commit(commit: IndexCommit): void {
    run('write', () => this.#commit.immediate(commit));
  }

  setDurable(pack: number, bytes: number): void {
    run('write', () => this.#setDurable.run([bytes, pack]));
  }

  seal(pack: number): void {
    run('write', () => this.#seal.run([pack]));
  }

  deletePack(pack: number): void {
    run('write', () => this.#deletePack.run([pack]));
  }

  /** Drops a pack's row and every record in it, in one transaction (chunk lists naming those records stay). */
  dropPack(pack: number): void {
    run('write', () => this.#drop(pack));
  }

  /**
   * Every record, pack by pack in file order: how a scrub reads packs sequentially. Pages of PAGE_ROWS, so the
   * connection is free for other statements between them.
   */
  *allRecords(): Generator<IndexedRecord, void, undefined> {
    const page = this.db.prepare('SELECT digest, pack, offset, size FROM pack_records WHERE (pack, offset) > (?, ?) ORDER BY pack, offset LIMIT ?');
    for (let after = [0, -1]; ; ) {
      const rows = Array.from(
        readRows(
          'pack_records',
          run('read', () => page.all([...after, PAGE_ROWS])),
        ),
        indexedRecord,
      );
      yield* rows;
      const last = rows.at(-1);
      if (!last || rows.length < PAGE_ROWS) return;
      after = [last.pack, last.offset];
    }
  }

  *allChunkLists(): Generator<ChunkList, void, undefined> {
    const page = this.db.prepare('SELECT digest, chunks FROM pack_chunked_blobs WHERE digest > ? ORDER BY digest LIMIT ?');
    for (let after: Uint8Array = new Uint8Array(0); ; ) {
      const rows = Array.from(
        readRows(
          'pack_chunked_blobs',
          run('read', () => page.all([after, PAGE_ROWS])),
        ),
      );
      for (const row of rows) {
        const digest = B3Digest.parse(row.bytes('digest'));
        yield { digest, chunks: decodeChunks(digest, blobColumn(row.bytes('chunks'))) };
      }
      const last = rows.at(-1);
      if (!last || rows.length < PAGE_ROWS) return;
      after = last.bytes('digest');
    }
  }

  /** Record count and payload bytes (each distinct object once). */
  totals(): { records: number; payloadBytes: number } {
    const row = readRow('pack_records', this.db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM pack_records').get([]));
    return { records: row?.integer('n') ?? 0, payloadBytes: row?.integer('bytes') ?? 0 };
  }
}

/** A chunk list as stored: 40 bytes per chunk (blake3 digest, u64 LE size). */
export function encodeChunks(chunks: readonly ChunkMeta[]): Buffer {
  const bytes = Buffer.alloc(chunks.length * CHUNK_ENTRY_BYTES);
  chunks.forEach((chunk, i) => {
    bytes.set(chunk.digest.bytes, i * CHUNK_ENTRY_BYTES);
    bytes.writeBigUInt64LE(BigInt(chunk.size), i * CHUNK_ENTRY_BYTES + B3_DIGEST_LENGTH);
  });
  return bytes;
}

/** A BLOB column as a Buffer over the same memory, for its hex and integer readers. */
function blobColumn(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function recordPlace(row: Row): RecordPlace {
  return { pack: row.integer('pack'), offset: row.integer('offset'), size: row.integer('size') };
}

function indexedRecord(row: Row): IndexedRecord {
  return { digest: B3Digest.parse(row.bytes('digest')), ...recordPlace(row) };
}

export function decodeChunks(blob: B3Digest, bytes: Buffer): ChunkMeta[] {
  return new EncodedChunks(blob, bytes).all();
}

/**
 * A chunk list as stored, decoded a few chunks at a time: a 1 GiB blob has 8,192 chunks, and as objects they cost
 * ~3 MB of heap for every stream reading it.
 */
export class EncodedChunks {
  constructor(
    readonly blob: B3Digest,
    readonly bytes: Buffer,
  ) {
    if (bytes.byteLength === 0 || bytes.byteLength % CHUNK_ENTRY_BYTES !== 0) {
      throw new NarBridgeError('NB_ERR_STORAGE', `chunk list of blob ${blob.toHex()} is damaged`);
    }
  }

  /** A list not stored yet (closed, waiting for its flush), in the stored form. */
  static of(list: ChunkList): EncodedChunks {
    return new EncodedChunks(list.digest, encodeChunks(list.chunks));
  }

  get length(): number {
    return this.bytes.byteLength / CHUNK_ENTRY_BYTES;
  }

  /** The blob's size: its chunks' sizes summed. */
  get blobSize(): number {
    let size = 0;
    for (let i = 0; i < this.length; i++) size += this.sizeAt(i);
    return size;
  }

  sizeAt(index: number): number {
    return Number(this.bytes.readBigUInt64LE(index * CHUNK_ENTRY_BYTES + B3_DIGEST_LENGTH));
  }

  /** Chunks `from` up to (not including) `to`. */
  slice(from: number, to: number): ChunkMeta[] {
    const chunks: ChunkMeta[] = [];
    for (let i = from; i < Math.min(to, this.length); i++) {
      const at = i * CHUNK_ENTRY_BYTES;
      chunks.push({ digest: B3Digest.parse(this.bytes.subarray(at, at + B3_DIGEST_LENGTH)), size: this.sizeAt(i) });
    }
    return chunks;
  }

  all(): ChunkMeta[] {
    return this.slice(0, this.length);
  }

  /** Where a read from byte `offset` of the blob starts: the first chunk not wholly before it, and its bytes to skip. */
  seek(offset: number): { readonly first: number; readonly skip: number } {
    let first = 0;
    let skipped = 0;
    for (; first < this.length; first++) {
      const size = this.sizeAt(first);
      if (skipped + size > offset) break;
      skipped += size;
    }
    return { first, skip: offset - skipped };
  }
}

function run<T>(what: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    throw new NarBridgeError('NB_ERR_STORAGE', `pack index: ${what} failed`, { cause: err });
  }
}
