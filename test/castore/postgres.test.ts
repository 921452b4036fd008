// The shared PostgreSQL layer: service URLs (credentials never shown), migrations under an advisory lock, and
// retries that cover transient failures only — all against a real server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  Directory,
  directoryServiceFromUrl,
  isTransientPostgresError,
  PostgresDatabase,
  postgresPoolConfig,
  redactUrlPassword,
} from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { putAll } from './directory-service-suite.js';
import { describePostgres, useTestDatabase } from './postgres-fixture.js';

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

describe('postgres service URLs', () => {
  it('takes host, port, user, password and database from the URL', async () => {
    const config = await postgresPoolConfig(new URL('postgresql://nb:s%40cret@db.example:6543/meta'));
    expect(config).toMatchObject({ host: 'db.example', port: 6543, user: 'nb', password: 's@cret', database: 'meta' });
  });

  it('leaves out what the URL does not say, for pg to take from PGHOST, PGPASSWORD and the rest', async () => {
    const config = await postgresPoolConfig(new URL('postgres://'));
    for (const key of ['host', 'port', 'user', 'password', 'database', 'ssl']) expect(config).not.toHaveProperty(key);
    expect(config.max).toBeGreaterThan(1);
    expect(config.statement_timeout).toBeGreaterThan(0);
    expect(config.connectionTimeoutMillis).toBeGreaterThan(0);
  });

  it('reads the password from password-file, without its trailing newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nb-pgpass-'));
    try {
      await writeFile(join(dir, 'pw'), 'from-file\n');
      const config = await postgresPoolConfig(new URL(`postgresql://nb@h/db?password-file=${join(dir, 'pw')}&max-connections=3&schema=tenant_1`));
      expect(config).toMatchObject({ password: 'from-file', max: 3, options: '-c search_path=tenant_1' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['postgresql://u:pw@h/db?nope=1', 'unknown parameter'],
    ['postgresql://h/db?password-file=relative', 'absolute'],
    ['postgresql://h/db?password-file=/nonexistent/nar-bridge-pw', 'cannot read'],
    ['postgresql://u:pw@h/db?password-file=/x', 'not both'],
    ['postgresql://h/db?max-connections=0', 'max-connections'],
    ['postgresql://h/db?schema=Bad;drop', 'schema'],
    ['postgresql://h/db?sslmode=sometimes', 'sslmode'],
    ['postgresql://h/db?sslmode=toString', 'sslmode'],
    ['postgresql://u:p%zzw@h/db', '%-escape'],
    ['postgresql://h/a/b', 'one database'],
    ['postgresql://h/db#x', 'fragment'],
  ])('refuses %s', async (raw, why) => {
    const err = await failure(postgresPoolConfig(new URL(raw)));
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_CONFIG');
    expect(String(NarBridgeError.is(err) && err.message)).toContain(why);
    expect(String(NarBridgeError.is(err) && err.message)).not.toContain('pw@');
  });

  it('never shows a password in a message', () => {
    expect(redactUrlPassword('postgresql://nb:hunter2@h:5432/db')).toBe('postgresql://nb:***@h:5432/db');
    expect(redactUrlPassword('postgres://nb:hun@ter2@h/db?x=1')).toBe('postgres://nb:***@h/db?x=1');
    expect(redactUrlPassword('postgresql://nb@h/db')).toBe('postgresql://nb@h/db');
    expect(redactUrlPassword('postgresql://nb:pw@[::1/db')).toBe('postgresql://nb:***@[::1/db'); // not even a URL
  });

  it('fails to open an unreachable server after retrying, in one line, without the password', async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await failure(directoryServiceFromUrl(`postgresql://nb:hunter2@127.0.0.1:${port}/db`));
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_CONFIG'); // exit 2 at startup
    expect(String(NarBridgeError.is(err) && err.message)).toContain('ECONNREFUSED');
    expect(String(NarBridgeError.is(err) && err.message)).not.toContain('\n');
    expect(String(NarBridgeError.is(err) && err.message)).not.toContain('hunter2');
    expect(String(NarBridgeError.is(err) && err.message)).toContain('nb:***@');
    expect(Date.now() - started).toBeGreaterThan(500); // backoff between attempts, not one refusal
  });

  it('classifies only connection losses, shutdowns and conflicts as transient', () => {
    const coded = (code: string) => Object.assign(new Error('x'), { code });
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '40001', '40P01', '08006']) expect(isTransientPostgresError(coded(code))).toBe(true);
    for (const code of ['23505', '23503', '42P01', '57014', '28P01']) expect(isTransientPostgresError(coded(code))).toBe(false);
    expect(isTransientPostgresError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientPostgresError(new Error('something else'))).toBe(false);
  });
});

describePostgres('PostgresDatabase on a real server', () => {
  const database = useTestDatabase('pgcore');

  it('migrates once when many replicas start together, and records the version', async () => {
    const url = new URL(await database.freshSchemaUrl());
    const dbs = await Promise.all(Array.from({ length: 6 }, () => PostgresDatabase.open(url)));
    try {
      const steps = ['CREATE TABLE t (a int)', 'INSERT INTO t VALUES (1)'];
      await Promise.all(dbs.map((db) => db.migrate('test.component', steps)));
      const schema = url.searchParams.get('schema');
      expect((await database.sql(`SELECT count(*)::int AS n FROM ${schema}.t`)).rows[0].n).toBe(1);
      expect((await database.sql(`SELECT version FROM ${schema}.schema_versions WHERE component = 'test.component'`)).rows[0].version).toBe(2);
      await dbs[0]?.migrate('test.component', [...steps, 'INSERT INTO t VALUES (2)']);
      expect((await database.sql(`SELECT count(*)::int AS n FROM ${schema}.t`)).rows[0].n).toBe(2);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it('serves with a role that may not create tables, once the schema is migrated', async () => {
    const url = new URL(await database.freshSchemaUrl());
    const schema = url.searchParams.get('schema');
    (await directoryServiceFromUrl(url.href)).close(); // migrates, as the admin
    const role = `nb_runtime_${Date.now()}`;
    await database.sql(`CREATE ROLE ${role} LOGIN`);
    try {
      await database.sql(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      await database.sql(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
      const asRuntime = new URL(url.href);
      asRuntime.username = role;
      const opened = await directoryServiceFromUrl(asRuntime.href);
      try {
        expect(await putAll(opened.service, [Directory.EMPTY])).toBe(Directory.EMPTY.digest().toHex());
      } finally {
        opened.close();
      }
    } finally {
      await database.sql(`DROP OWNED BY ${role}`);
      await database.sql(`DROP ROLE ${role}`);
    }
  });

  it('refuses a schema newer than this release', async () => {
    const db = await PostgresDatabase.open(new URL(await database.freshSchemaUrl()));
    try {
      await db.migrate('test.newer', ['CREATE TABLE n (a int)', 'ALTER TABLE n ADD b int']);
      const err = await failure(db.migrate('test.newer', ['CREATE TABLE n (a int)']));
      expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
      expect(String(NarBridgeError.is(err) && err.message)).toContain('newer');
    } finally {
      await db.close();
    }
  });

  it('retries a statement whose connection an administrator terminated (57P01)', async () => {
    const url = new URL(await database.freshSchemaUrl());
    const schema = url.searchParams.get('schema');
    await database.sql(`CREATE TABLE ${schema}.held (a int)`);
    const db = await PostgresDatabase.open(url);
    const locker = new pg.Client({ connectionString: database.url() });
    await locker.connect();
    try {
      // Hold a lock so the statement is still running when its connection is killed.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${schema}.held IN ACCESS EXCLUSIVE MODE`);
      const pending = db.query('read held', 'SELECT count(*)::int AS n FROM held');
      let settled = false;
      const outcome = pending
        .then(
          () => undefined,
          (e: unknown) => e,
        )
        .finally(() => (settled = true)); // asserted below
      /** The backend (other than `not`) whose statement waits for the lock; null once the statement gave up. */
      const waiter = async (not?: number): Promise<number | null> => {
        for (; !settled; ) {
          // Asked outside the locker's transaction, whose view of pg_stat_activity stays as it first saw it.
          const { rows } = await database.sql(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query = 'SELECT count(*)::int AS n FROM held' AND pid <> $1",
            [not ?? 0],
          );
          if (rows[0]) return Number(rows[0].pid);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return null;
      };
      const victim = await waiter();
      expect(victim).not.toBeNull();
      await database.sql('SELECT pg_terminate_backend($1)', [victim]);
      // The retry waits on the same lock from a new connection; releasing the lock lets it finish.
      await waiter(victim ?? 0);
      await locker.query('COMMIT');
      expect(await outcome).toBeUndefined();
      expect(await pending).toEqual([{ n: 0 }]);
    } finally {
      await locker.end();
      await db.close();
    }
  });

  it('does not retry a statement that fails for its own reasons', async () => {
    const url = new URL(await database.freshSchemaUrl());
    const schema = url.searchParams.get('schema');
    await database.sql(`CREATE TABLE ${schema}.once (a int PRIMARY KEY)`);
    const db = await PostgresDatabase.open(url);
    try {
      await db.query('insert', 'INSERT INTO once VALUES (1)');
      const started = Date.now();
      const err = await failure(db.query('insert', 'INSERT INTO once VALUES (1)'));
      expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(Reflect.get(Object(NarBridgeError.is(err) ? err.cause : null), 'code')).toBe('23505');
    } finally {
      await db.close();
    }
  });
});
