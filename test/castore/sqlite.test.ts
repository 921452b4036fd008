// openDatabase's settings, migrate's versioning, and the checked row reader every backend decodes through.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { B3Digest, migrate, openDatabase, readRow, readRows, readTuple, readTuples, SqliteDirectoryService, type Database } from '../../src/castore/index.js';
import { PackIndex } from '../../src/castore/blob/pack/pack-index.js';
import { SqlitePathInfoService } from '../../src/store/index.js';
import { INFO } from '../grpc/path-info-fixture.js';
import { NarBridgeError } from '../../src/errors.js';

let dir: string;
let db: Database;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nar-bridge-sqlite-'));
  db = openDatabase(join(dir, 'meta.db'));
});

afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openDatabase and migrate', () => {
  const pragma = (name: string) => db.prepare(`PRAGMA ${name}`).raw(true).get([]);

  it('opens in WAL mode with NORMAL sync, a busy timeout and foreign keys', () => {
    expect(pragma('journal_mode')).toEqual(['wal']);
    expect(pragma('synchronous')).toEqual([1]);
    expect(pragma('busy_timeout')).toEqual([5000]);
    expect(pragma('foreign_keys')).toEqual([1]);
  });

  it('applies only the steps not yet applied', () => {
    migrate(db, 'test', ['CREATE TABLE t1 (x INTEGER)']);
    migrate(db, 'test', ['CREATE TABLE t1 (x INTEGER)', 'CREATE TABLE t2 (y INTEGER)']);
    migrate(db, 'test', ['CREATE TABLE t1 (x INTEGER)', 'CREATE TABLE t2 (y INTEGER)']);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't_' ORDER BY name").raw(true).all([]);
    expect(tables).toEqual([['t1'], ['t2']]);
  });

  it('keeps components apart', () => {
    migrate(db, 'one', ['CREATE TABLE one_t (x INTEGER)']);
    migrate(db, 'two', ['CREATE TABLE two_t (x INTEGER)']);
    expect(db.prepare('SELECT component, version FROM schema_versions ORDER BY component').raw(true).all([])).toEqual([
      ['one', 1],
      ['two', 1],
    ]);
  });

  it('rolls back a failing step', () => {
    expect(() => migrate(db, 'bad', ['CREATE TABLE ok_t (x INTEGER)', 'NOT SQL'])).toThrow();
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'ok_t'").raw(true).get([])).toEqual([0]);
  });

  it('refuses a database migrated by a newer release', () => {
    migrate(db, 'test', ['CREATE TABLE t1 (x INTEGER)', 'CREATE TABLE t2 (y INTEGER)']);
    let err: unknown;
    try {
      migrate(db, 'test', ['CREATE TABLE t1 (x INTEGER)']);
    } catch (e) {
      err = e;
    }
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
  });
});

describe('readRow', () => {
  beforeEach(() => {
    db.exec('CREATE TABLE t (b BLOB, i INTEGER, s TEXT)');
    db.prepare('INSERT INTO t (b, i, s) VALUES (?, ?, ?)').run([Buffer.from([1, 2]), 7, 'x']);
    db.prepare('INSERT INTO t (b, i, s) VALUES (?, ?, ?)').run([null, null, null]);
  });

  const storageError = (read: () => unknown): string => {
    try {
      read();
    } catch (err) {
      if (NarBridgeError.is(err) && err.code === 'NB_ERR_STORAGE') return err.message;
      throw err;
    }
    throw new Error('no error');
  };

  it('reads BLOB (from get and iterate alike), INTEGER and TEXT columns, and no row as null', () => {
    const row = readRow('t', db.prepare('SELECT * FROM t WHERE i = 7').get([]));
    expect(Array.from(row?.bytes('b') ?? [])).toEqual([1, 2]);
    expect(row?.integer('i')).toBe(7);
    expect(row?.text('s')).toBe('x');
    const rows = Array.from(readRows('t', db.prepare('SELECT * FROM t ORDER BY i DESC').iterate([])));
    expect(Array.from(rows[0]?.bytes('b') ?? [])).toEqual([1, 2]);
    expect(rows[1]?.bytesOrNull('b')).toBeNull();
    expect(rows[1]?.integerOrNull('i')).toBeNull();
    expect(readRow('t', db.prepare('SELECT * FROM t WHERE i = 8').get([]))).toBeNull();
  });

  it('refuses a wrong type, a NULL where a value must be, or a missing column, naming the column', () => {
    const row = readRow('t', db.prepare('SELECT * FROM t WHERE i = 7').get([]));
    const empty = readRow('t', db.prepare('SELECT * FROM t WHERE i IS NULL').get([]));
    expect(storageError(() => row?.bytes('s'))).toBe('metadata database: t.s is not a BLOB (string)');
    expect(storageError(() => row?.text('i'))).toBe('metadata database: t.i is not TEXT (number)');
    expect(storageError(() => row?.integer('b'))).toMatch(/t\.b is not an INTEGER/);
    expect(storageError(() => empty?.integer('i'))).toBe('metadata database: t.i is not an INTEGER (NULL)');
    expect(storageError(() => row?.text('nope'))).toBe('metadata database: a t row has no column nope');
  });

  it('reads positional rows (raw mode) by column name, with the same checks and messages', () => {
    const columns = ['b', 'i', 's'] as const;
    const row = readTuple('t', columns, db.prepare('SELECT b, i, s FROM t WHERE i = 7').raw(true).get([]));
    expect(Array.from(row?.bytes('b') ?? [])).toEqual([1, 2]);
    expect(row?.integer('i')).toBe(7);
    expect(row?.text('s')).toBe('x');
    const rows = Array.from(readTuples('t', columns, db.prepare('SELECT b, i, s FROM t ORDER BY i DESC').raw(true).iterate([])));
    expect(rows.map((r) => r.integerOrNull('i'))).toEqual([7, null]);
    expect(rows[1]?.bytesOrNull('b')).toBeNull();
    expect(readTuple('t', columns, db.prepare('SELECT b, i, s FROM t WHERE i = 8').raw(true).get([]))).toBeNull();
    expect(storageError(() => row?.bytes('s'))).toBe('metadata database: t.s is not a BLOB (string)');
    expect(storageError(() => row?.text('i'))).toBe('metadata database: t.i is not TEXT (number)');
    expect(storageError(() => rows[1]?.integer('i'))).toBe('metadata database: t.i is not an INTEGER (NULL)');
    expect(storageError(() => row?.text('nope'))).toBe('metadata database: a t row has no column nope');
    // Fewer values than columns named (a query and its column list out of step) is a missing column, not undefined.
    const short = readTuple('t', columns, db.prepare('SELECT b, i FROM t WHERE i = 7').raw(true).get([]));
    expect(storageError(() => short?.text('s'))).toBe('metadata database: a t row has no column s');
    expect(storageError(() => readTuple('t', columns, { b: 1 }))).toBe('metadata database: a t row is not a row');
  });

  it('makes a backend fail with NB_ERR_STORAGE on a corrupt row instead of decoding garbage', async () => {
    const directories = new SqliteDirectoryService(db);
    const pathInfos = new SqlitePathInfoService(db);
    await pathInfos.put(INFO);
    db.prepare('UPDATE path_infos SET data = ?').run(['not bytes']);
    await expect(pathInfos.get(INFO.storePath.digest)).rejects.toThrow(/path_infos\.data is not a BLOB/);
    const digest = B3Digest.parse(new Uint8Array(32).fill(9));
    db.prepare('INSERT INTO castore_directories (digest, size, data) VALUES (?, ?, ?)').run([Buffer.from(digest.bytes), 1, 'not bytes']);
    await expect(directories.get(digest)).rejects.toThrow(/castore_directories\.data is not a BLOB/);
  });

  it('makes the pack index (raw rows) fail with NB_ERR_STORAGE on a corrupt row', () => {
    const index = new PackIndex(db);
    const digest = B3Digest.parse(new Uint8Array(32).fill(5));
    const pack = index.allocatePack(process.pid, 16);
    index.commit({ records: [{ digest, pack, offset: 16, size: 3 }], lists: [], packs: [{ id: pack, durableBytes: 59, sealed: true }] });
    expect(index.record(digest)).toEqual({ pack, offset: 16, size: 3 });
    db.prepare('UPDATE pack_records SET size = ?').run(['three']);
    expect(storageError(() => index.record(digest))).toBe('metadata database: pack_records.size is not an INTEGER below 2^53 (string)');
    expect(storageError(() => index.places([digest]))).toMatch(/pack_records\.size is not an INTEGER/);
    expect(storageError(() => Array.from(index.allRecords()))).toMatch(/pack_records\.size is not an INTEGER/);
  });
});
