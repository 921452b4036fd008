// PostgreSQL for metadata shared by many replicas: a pool from a service URL, versioned migrations under an
// advisory lock, and retries with backoff on transient failures only. Every backend on PostgreSQL goes through here.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { NarBridgeError } from '../errors.js';
import type { CallOptions } from './call-options.js';
import { redactUrlPassword, serviceUrlError } from './service-url-error.js';

/** Both spellings libpq accepts. */
export const POSTGRES_SCHEMES = ['postgresql', 'postgres'] as const;

/**
 * Connections per pool. Each process is one event loop, so a few connections keep it busy; many replicas times a
 * large pool would exhaust the server's max_connections (100 by default). `?max-connections=N` overrides it.
 */
const DEFAULT_MAX_CONNECTIONS = 10;
/** A server that does not answer a connection attempt this fast is treated as down (and retried). */
const CONNECT_TIMEOUT_MS = 10_000;
/** No metadata statement takes long; one that does is stuck behind a lock and had better fail than pile up. */
const STATEMENT_TIMEOUT_MS = 30_000;
/** A transaction left open by a crashed request must not hold its locks forever. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
/** Attempts per call, and the backoff between them: 50 ms doubling to at most 2 s, about 4 s in all. */
const MAX_ATTEMPTS = 6;
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2_000;
/** pg_advisory_xact_lock key serialising schema migrations across replicas; arbitrary ("nbrg"), fixed forever. */
const MIGRATION_LOCK_KEY = 0x6e627267;

/**
 * Failures worth another attempt: the connection went away or was refused (a restart, a failover), or the server
 * aborted the transaction to resolve a conflict. Never a constraint violation or a bad statement: those repeat.
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08006', // connection_failure
]);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** pg reports a connection lost mid-query or a connect timeout with these messages and no code. */
const TRANSIENT_PG_MESSAGES = ['Connection terminated', 'timeout exceeded when trying to connect'];

export function isTransientPostgresError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = Reflect.get(err, 'code');
  if (typeof code === 'string') return TRANSIENT_SQLSTATES.has(code) || TRANSIENT_ERRNOS.has(code);
  if (err instanceof AggregateError) return err.errors.some(isTransientPostgresError); // a host with several addresses
  return TRANSIENT_PG_MESSAGES.some((m) => err.message.startsWith(m));
}

const QUERY_KEYS = ['password-file', 'max-connections', 'schema', 'sslmode'] as const;
type QueryKey = (typeof QUERY_KEYS)[number];
const SSL_MODES: Record<string, pg.PoolConfig['ssl']> = {
  disable: false,
  // libpq's `require` encrypts without checking the certificate.
  require: { rejectUnauthorized: false },
  'verify-full': true,
};

/**
 * `postgresql://[user[:password]@][host][:port][/database][?password-file=/abs&max-connections=N&schema=S&sslmode=M]`.
 * Whatever the URL leaves out, pg takes from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE (and
 * ~/.pgpass), as libpq does. `schema` puts every table in that schema (it must exist), for several stores per database.
 */
export async function postgresPoolConfig(url: URL): Promise<pg.PoolConfig> {
  const scheme = url.protocol.slice(0, -1);
  if (!POSTGRES_SCHEMES.some((s) => s === scheme)) throw serviceUrlError(url.href, `expected ${POSTGRES_SCHEMES.join(':// or ')}://`);
  if (url.hash) throw serviceUrlError(url.href, 'takes no #fragment');
  const query = new Map<QueryKey, string>();
  for (const [key, value] of url.searchParams) {
    const known = QUERY_KEYS.find((k) => k === key);
    if (!known) throw serviceUrlError(url.href, `unknown parameter '${key}' (known: ${QUERY_KEYS.join(', ')})`);
    query.set(known, value);
  }
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part);
    } catch (err) {
      throw serviceUrlError(url.href, 'bad %-escape', err);
    }
  };
  const database = decode(url.pathname.replace(/^\//, ''));
  if (database.includes('/')) throw serviceUrlError(url.href, 'the path names one database');
  const passwordFile = query.get('password-file');
  if (passwordFile !== undefined && url.password) throw serviceUrlError(url.href, 'give the password in the URL or in password-file, not both');
  const maxText = query.get('max-connections') ?? String(DEFAULT_MAX_CONNECTIONS);
  if (!/^[1-9]\d{0,3}$/.test(maxText)) throw serviceUrlError(url.href, 'max-connections must be a whole number from 1 to 9999');
  const schema = query.get('schema');
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw serviceUrlError(url.href, 'schema must be a lower-case SQL identifier');
  const sslmode = query.get('sslmode');
  if (sslmode !== undefined && !Object.hasOwn(SSL_MODES, sslmode))
    throw serviceUrlError(url.href, `sslmode must be one of ${Object.keys(SSL_MODES).join(', ')}`);
  return {
    ...(url.hostname ? { host: url.hostname.replace(/^\[(.*)\]$/, '$1') } : {}),
    ...(url.port ? { port: Number(url.port) } : {}),
    ...(url.username ? { user: decode(url.username) } : {}),
    ...(url.password ? { password: decode(url.password) } : {}),
    ...(passwordFile !== undefined ? { password: await readPasswordFile(url, passwordFile) } : {}),
    ...(database ? { database } : {}),
    ...(sslmode !== undefined ? { ssl: SSL_MODES[sslmode] } : {}),
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    max: Number(maxText),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'nar-bridge',
  };
}

async function readPasswordFile(url: URL, path: string): Promise<string> {
  if (!path.startsWith('/')) throw serviceUrlError(url.href, 'password-file must be an absolute path');
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw serviceUrlError(url.href, `cannot read password-file ${path}`, err);
  }
}

/** What a statement runs on: the pool, or one transaction's connection. */
export interface Queryable {
  query(text: string, values?: readonly unknown[]): Promise<readonly unknown[]>;
}

/** A connection held by one user (PostgresDatabase.session). */
export interface PostgresSession extends Queryable {
  /** Whether the connection failed (its session, with its locks, is gone). */
  lost(): boolean;
  release(destroy?: boolean): void;
}

/**
 * Gives back a session that may hold an advisory lock, running `unlock` (a statement) first when it does. Unlocked
 * explicitly rather than by closing: a closed session's locks go only once its backend notices, so a caller retrying
 * at once could still find them taken. Where the unlock fails the session is closed, never pooled holding the lock.
 */
export async function unlockAndRelease(session: PostgresSession, unlock: string | null): Promise<void> {
  const unlocked =
    unlock === null ||
    (await session.query(unlock).then(
      () => true,
      () => false,
    ));
  session.release(!unlocked);
}

/** A pool of connections to one database, named by a service URL. */
export class PostgresDatabase {
  readonly #pool: pg.Pool;
  readonly #label: string;
  /** Prepared statement names by statement text; the texts are our own constants, so this stays small. */
  readonly #statements = new Map<string, string>();
  /** Stops of the LISTEN connections, ended before the pool (which waits for every connection to come back). */
  readonly #listeners = new Set<() => void>();
  #closing: Promise<void> | undefined;

  private constructor(pool: pg.Pool, label: string) {
    this.#pool = pool;
    this.#label = label;
  }

  /** Opens a pool and checks that the server answers, retrying while it is down; fails with NB_ERR_STORAGE. */
  static async open(url: URL): Promise<PostgresDatabase> {
    // Loaded only when used: the AWS SDK and pg together cost every server process ~5 MB of resident memory.
    const { default: postgres } = await import('pg');
    const pool = new postgres.Pool(await postgresPoolConfig(url));
    // An idle connection the server drops emits 'error' on the pool, which removes it; the next query gets a
    // fresh one (and retries if it too fails). Without a listener the emit would crash the process.
    pool.on('error', () => undefined);
    const db = new PostgresDatabase(pool, redactUrlPassword(url.href));
    try {
      await db.query('connect', 'SELECT 1');
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  }

  /**
   * Runs one statement, retried on transient failures; NB_ERR_STORAGE after the last attempt. Each distinct text is
   * a named prepared statement, parsed and planned once per connection rather than on every call.
   */
  query(what: string, text: string, values: readonly unknown[] = [], opts?: CallOptions): Promise<readonly unknown[]> {
    const name = this.#statements.get(text) ?? `nb_${this.#statements.size}`;
    this.#statements.set(text, name);
    const statement = { name, text, values: [...values] };
    return this.#retry(what, opts, async () => (await this.#pool.query(statement)).rows);
  }

  /**
   * Runs `body` in one transaction, all of it retried on a transient failure: so `body` must only read and write
   * through `tx`, and be safe to run again (our writes are idempotent upserts).
   */
  transaction<T>(what: string, body: (tx: Queryable) => Promise<T>, opts?: CallOptions): Promise<T> {
    return this.#retry(what, opts, async () => {
      const client = await this.#pool.connect();
      const tx: Queryable = { query: async (text, values = []) => (await client.query({ text, values: [...values] })).rows };
      try {
        await client.query('BEGIN');
        const result = await body(tx);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        // A connection that cannot even roll back is in an unknown state: destroy it rather than reuse it.
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        );
        client.release(rolledBack ? undefined : true);
        throw err;
      }
    });
  }

  /**
   * Brings `component`'s schema up to date: runs the steps after its recorded version, in one transaction, under
   * an advisory lock so replicas starting together migrate once. Steps are append-only; never edit one that has
   * shipped. A database from a newer release is refused.
   */
  migrate(component: string, steps: readonly string[]): Promise<void> {
    return this.transaction('migrate', async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      // No DDL when nothing is to do, so a role without CREATE rights can serve a schema `nar-bridge migrate` set up.
      const [table] = await tx.query("SELECT to_regclass('schema_versions') IS NOT NULL AS present");
      const present = typeof table === 'object' && table !== null && Reflect.get(table, 'present') === true;
      if (!present) await tx.query('CREATE TABLE schema_versions (component text PRIMARY KEY NOT NULL, version integer NOT NULL)');
      const [row] = present ? await tx.query('SELECT version FROM schema_versions WHERE component = $1', [component]) : [];
      const version = row === undefined ? 0 : integerColumn(row, 'version');
      if (version > steps.length) {
        throw new NarBridgeError('NB_ERR_STORAGE', `${component} schema version ${version} is newer than this release (${steps.length})`);
      }
      if (version === steps.length) return;
      for (const step of steps.slice(version)) await tx.query(step);
      await tx.query('INSERT INTO schema_versions (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version', [
        component,
        steps.length,
      ]);
    });
  }

  /**
   * Calls `onPayload` with each notification on `channel` (a constant identifier of ours), on a connection of its own
   * that LISTENs; a connection that breaks is replaced after a backoff (notifications sent meanwhile are lost: callers
   * bound what that costs). The returned function stops listening.
   */
  listen(channel: string, onPayload: (payload: string) => void): () => void {
    let stopped = false;
    let current: pg.PoolClient | null = null;
    const run = async (attempt: number): Promise<void> => {
      if (stopped) return;
      try {
        const client = await this.#pool.connect();
        if (stopped) {
          client.release(true);
          return;
        }
        current = client;
        const lost = new Promise<void>((resolve) => {
          client.once('error', () => resolve());
          client.once('end', () => resolve());
        });
        client.on('notification', (message) => {
          if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
        });
        await client.query(`LISTEN ${channel}`);
        attempt = 0;
        await lost;
        client.release(true);
      } catch {
        current?.release(true);
      }
      current = null;
      if (stopped) return;
      const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
      await sleep(backoffMs);
      return run(attempt + 1);
    };
    void run(0);
    const stop = () => {
      stopped = true;
      this.#listeners.delete(stop);
      current?.release(true);
      current = null;
    };
    this.#listeners.add(stop);
    return stop;
  }

  /**
   * One connection of the pool held for the caller alone (session-level state: advisory locks), no retries: losing it
   * loses its session, which only the caller can judge. `release(true)` closes it rather than reusing it.
   */
  async session(what: string): Promise<PostgresSession> {
    const client = await this.#retry(what, undefined, () => this.#pool.connect());
    let lost = false;
    let released = false;
    client.on('error', () => {
      lost = true;
    });
    return {
      query: async (text, values = []) => {
        try {
          return (await client.query({ text, values: [...values] })).rows;
        } catch (err) {
          throw new NarBridgeError('NB_ERR_STORAGE', `PostgreSQL ${this.#label}: ${what} failed`, { cause: err });
        }
      },
      lost: () => lost,
      release: (destroy = false) => {
        if (released) return;
        released = true;
        client.release(destroy || lost);
      },
    };
  }

  /** Ends the pool once queries in flight finish; safe to call again. */
  close(): Promise<void> {
    for (const stop of this.#listeners) stop();
    this.#closing ??= this.#pool.end();
    return this.#closing;
  }

  async #retry<T>(what: string, opts: CallOptions | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      opts?.signal?.throwIfAborted();
      try {
        return await attempt();
      } catch (err) {
        if (NarBridgeError.is(err)) throw err;
        if (n >= MAX_ATTEMPTS || !isTransientPostgresError(err) || this.#closing) {
          throw new NarBridgeError('NB_ERR_STORAGE', `PostgreSQL ${this.#label}: ${what} failed`, { cause: err });
        }
      }
      const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (n - 1));
      await sleep(backoffMs * (0.5 + Math.random() / 2), undefined, opts?.signal ? { signal: opts.signal } : {});
    }
  }
}

/** Rows come back untyped; these read one column, checking its type (a mismatch is a schema bug or corruption). */
export function bytesColumn(row: unknown, name: string): Uint8Array {
  const value = typeof row === 'object' && row !== null ? Reflect.get(row, name) : undefined;
  if (!(value instanceof Uint8Array)) throw columnError(name, 'bytea');
  return value;
}

/** A nullable bytea column: null stays null, anything else must be bytes. */
export function optionalBytesColumn(row: unknown, name: string): Uint8Array | null {
  const value = typeof row === 'object' && row !== null ? Reflect.get(row, name) : undefined;
  return value === null ? null : bytesColumn(row, name);
}

/** integer columns arrive as numbers, bigint ones as decimal strings (pg does not guess at precision). */
export function integerColumn(row: unknown, name: string): number {
  const value = typeof row === 'object' && row !== null ? Reflect.get(row, name) : undefined;
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw columnError(name, 'integer');
  return n;
}

function columnError(name: string, type: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_STORAGE', `PostgreSQL: column ${name} is not a ${type}`);
}
