// openDatabase's settings and migrate's versioning.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';

describe('openDatabase and migrate', () => {
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
    expect(db.prepare('SELECT component, version FROM schema_versions ORDER BY component').raw(true).all([])).toEqual([['one', 1], ['two', 1]]);
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
