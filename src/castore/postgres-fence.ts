// PostgresWriteFence: the write fence (see Fence in write-fence.ts) for replicas that share one PostgreSQL schema.
//
// It is one advisory lock per schema (FENCE_LOCK_CLASS, hashtext(current_schema())). A writer holds it SHARED for the
// whole of its write — from its first "already have it" check to the last reference it writes — on one session per
// process (session-level advisory locks count: each writer takes it once and releases it once, so the session holds
// it while any writer of the process is in flight). A GC takes it EXCLUSIVE on a session of its own for its mark and
// sweep: PostgreSQL grants that once every replica's writers are done, and holds off every writer starting meanwhile.
// (An S3 pack object's index commit is not fenced: a writer's ingest flushes inside the writer; what guards an object
// a GC deletes against a replica committing one of the same name is the object's row lock, see collectPostgresGarbage.)
//
// PostgreSQL queues a lock request behind a conflicting one that waits, so a waiting GC holds off other replicas'
// first writers. A process that already holds the lock would be granted it again past the waiting GC, though, and
// keep the GC out for as long as its writers overlap; so a writer first looks for an exclusive request in pg_locks
// and waits (polling) while there is one. Writers wait without limit, the GC only `timeoutMs` (it then skips the run).
//
// If a process's fence session is lost mid-write (the connection breaks), PostgreSQL drops its shared hold with it;
// the writer's transaction-scoped checks (the PathInfo put's stored-root re-check, the pack commit's lock) still run
// against whatever a GC did meanwhile, but a deduplication decided before the loss is no longer protected. The next
// writer opens a new session.
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { NarBridgeError } from '../errors.js';
import { type PostgresDatabase, type PostgresSession, unlockAndRelease } from './postgres.js';
import type { Fence } from './write-fence.js';

/** The first key of the fence lock ("nbfc"); the second is the schema's hash, so stores in one database keep apart. */
const FENCE_LOCK_CLASS = 0x6e626663;

const FENCE_LOCK_KEY = `${FENCE_LOCK_CLASS}, hashtext(current_schema())`;

/** How often a writer held off by a GC looks again. */
const POLL_MS = 20;
/** SQLSTATE of a lock wait that ran out of lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

/** The shared lock, unless an exclusive request (a GC, waiting or running) is there: then none is taken. */
const ENTER = `SELECT CASE
  WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid = ${FENCE_LOCK_CLASS}::oid AND objid = hashtext(current_schema())::oid AND objsubid = 2 AND mode = 'ExclusiveLock')
  THEN false ELSE pg_try_advisory_lock_shared(${FENCE_LOCK_CLASS}, hashtext(current_schema())) END AS entered`;

export class PostgresWriteFence implements Fence {
  #session: Promise<PostgresSession> | null = null;
  #opened: PostgresSession | null = null;
  /** Set inside shared(): a nested write (a PathInfo put inside a pull-through) must not wait behind a waiting GC. */
  readonly #inside = new AsyncLocalStorage<true>();

  constructor(private readonly db: PostgresDatabase) {}

  async shared<T>(body: () => Promise<T>): Promise<T> {
    if (this.#inside.getStore()) return body();
    const session = await this.#enter();
    try {
      return await this.#inside.run(true, body);
    } finally {
      await session.query(`SELECT pg_advisory_unlock_shared(${FENCE_LOCK_KEY})`).catch(() => this.#drop(session));
    }
  }

  async exclusive<T>(body: () => Promise<T>, timeoutMs: number): Promise<{ value: T } | null> {
    const session = await this.db.session('raise the write fence');
    let held = false;
    try {
      await session.query(`SET lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      try {
        await session.query(`SELECT pg_advisory_lock(${FENCE_LOCK_KEY})`);
      } catch (err) {
        if (err instanceof NarBridgeError && Reflect.get(Object(err.cause), 'code') === LOCK_NOT_AVAILABLE) return null;
        throw err;
      }
      held = true;
      await session.query('RESET lock_timeout');
      return { value: await body() };
    } finally {
      await unlockAndRelease(session, held ? `SELECT pg_advisory_unlock(${FENCE_LOCK_KEY})` : null);
    }
  }

  /** Stops using the fence session (writers in flight have finished: the caller closes after them). */
  async close(): Promise<void> {
    const session = await this.#session?.catch(() => null);
    if (session) this.#drop(session);
  }

  /** Takes the shared lock on this process's session, waiting while a GC is there. */
  async #enter(): Promise<PostgresSession> {
    for (;;) {
      const session = await this.#current();
      let row: unknown;
      try {
        [row] = await session.query(ENTER);
      } catch (err) {
        this.#drop(session);
        throw err;
      }
      if (Reflect.get(Object(row), 'entered') === true) return session;
      await sleep(POLL_MS);
    }
  }

  async #current(): Promise<PostgresSession> {
    if (!this.#session) {
      const opening = this.db.session('enter the write fence');
      this.#session = opening;
      opening.then(
        (session) => {
          if (this.#session === opening) this.#opened = session;
        },
        () => {
          if (this.#session === opening) this.#session = null;
        },
      );
    }
    const session = await this.#session;
    if (!session.lost()) return session;
    this.#drop(session);
    return this.#current();
  }

  /** A broken session: closed (its locks go with it), and the next writer opens another. */
  #drop(session: PostgresSession): void {
    if (this.#opened === session) {
      this.#opened = null;
      this.#session = null;
    }
    session.release(true);
  }
}
