// WriteFence: what keeps a garbage collection from deleting an object a writer is about to make reachable.
//
// A writer finds an object already stored ("already have it": a deduplicated blob, chunk or Directory) and only later
// writes what refers to it (a Directory, an upload record, a PathInfo). If a GC decided in between that the object
// was unreachable, the new reference would point at nothing. So every write that may end in a new reference (a NAR
// ingest with its upload record, a PathInfo put with its presence re-check) runs inside `shared()`, and a GC's mark
// and sweep run inside `exclusive()`: the sweep sees every reference a finished writer made, and a writer starting
// after it sees the deletions (its presence checks fail cleanly instead of committing a dangling reference).
// Waiting for the fence is bounded on the GC side (it gives up and tries at its next interval), so a slow upload
// delays a GC, never the other way round for longer than the GC's wait.
//
// Several processes on one store (serve --workers, `nar-bridge gc` beside a server) meet on a FenceBoard in the shared
// database: a process with writers in flight has a row, a fence raised is a row, and the check-and-register of a
// process's first writer is one write transaction, so a writer and a GC can never both miss each other. Rows of dead
// processes (kill -9 mid-write or mid-GC) are ignored: what they had in flight died with them. Only a process's first
// writer and its last writer's exit write to the database; the others read whether a fence is up. Across processes
// waiting is by polling (every POLL_MS), as SQLite has no notifications; within a process waiters are woken at once.
// (The alternative, serialising every referencing write and the sweep in SQLite write transactions, would hold the
// database's one write lock for the whole of a NAR upload.)
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { NarBridgeError } from '../errors.js';
import { isProcessAlive } from './process-alive.js';
import { migrate, readRows, writeTransaction, type Database } from './sqlite.js';

/** How often a writer held off by another process's fence, or a GC waiting for another process's writers, looks again. */
const POLL_MS = 20;
/** How soon a failed deregistration or fence lowering (a busy or full database) is retried. */
const RETRY_MS = 1000;

/** Where the fences of processes sharing one store meet. */
export interface FenceBoard {
  /** Registers this process as writing unless a fence of a live process is up (false then); one atomic step. */
  enter(): boolean;
  /** Whether a fence of a live process is up. */
  fenced(): boolean;
  /** This process has no writer in flight any more. */
  leave(): void;
  /** Raises a fence: writers of other processes stay out once their writers in flight are done. */
  raise(): string;
  lower(token: string): void;
  /** Whether a live process other than this one has writers in flight. */
  othersWriting(): boolean;
}

/**
 * What writers and a GC meet on: WriteFence (one process, or the processes on one data dir through a FenceBoard) and
 * PostgresWriteFence (replicas sharing one PostgreSQL schema) both keep this contract.
 */
export interface Fence {
  /** Runs `body` as a writer: concurrently with other writers, never during a GC's mark and sweep. */
  shared<T>(body: () => Promise<T>): Promise<T>;
  /** Runs `body` once every writer in flight is done, writers held off; null (body not run) after `timeoutMs`. */
  exclusive<T>(body: () => Promise<T>, timeoutMs: number): Promise<{ value: T } | null>;
}

export class WriteFence implements Fence {
  #shared = 0;
  #exclusive = false;
  #exclusiveWaiting = 0;
  #wakers: Array<() => void> = [];
  #leaveRetry: NodeJS.Timeout | null = null;
  /** Set inside shared(): a nested write (a PathInfo put inside a pull-through) must not wait behind a waiting GC. */
  readonly #inside = new AsyncLocalStorage<true>();

  /** `board`: the other processes writing the same store; without one, the fence holds within this process only. */
  constructor(private readonly board?: FenceBoard) {}

  /** Runs `body` as a writer: concurrently with other writers, never during a GC's mark and sweep. */
  async shared<T>(body: () => Promise<T>): Promise<T> {
    if (this.#inside.getStore()) return body();
    for (;;) {
      while (this.#exclusive || this.#exclusiveWaiting > 0) await this.#changed();
      // The first writer registers the process (refused while a fence is up); later ones only check for a fence,
      // which a GC raised after the registration waits behind. Either way synchronously with the count below.
      if (this.#shared === 0 ? this.#enter() : !this.board?.fenced()) break;
      await Promise.race([this.#changed(), sleep(POLL_MS)]);
    }
    this.#shared++;
    try {
      return await this.#inside.run(true, body);
    } finally {
      if (--this.#shared === 0) this.#leave();
      this.#wake();
    }
  }

  /**
   * Runs `body` alone, once the writers in flight (of every process on the board) are done; new writers wait from the
   * moment this is called. Null, without running `body`, if the writers did not finish within `timeoutMs`.
   */
  async exclusive<T>(body: () => Promise<T>, timeoutMs: number): Promise<{ value: T } | null> {
    this.#exclusiveWaiting++;
    const deadline = Date.now() + timeoutMs;
    let token: string | null = null;
    let acquired = false;
    try {
      token = this.board?.raise() ?? null;
      while (this.#exclusive || this.#shared > 0 || this.board?.othersWriting()) {
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await Promise.race([this.#changed(), sleep(this.board ? Math.min(left, POLL_MS) : left)]);
      }
      acquired = true;
    } finally {
      this.#exclusiveWaiting--;
      if (!acquired && token !== null) this.#lower(token);
      this.#wake(); // writers held back by this wait re-check (they go ahead if it gave up)
    }
    this.#exclusive = true;
    try {
      return { value: await body() };
    } finally {
      this.#exclusive = false;
      if (token !== null) this.#lower(token);
      this.#wake();
    }
  }

  #enter(): boolean {
    if (!this.board) return true;
    if (this.#leaveRetry) clearTimeout(this.#leaveRetry);
    this.#leaveRetry = null;
    return this.board.enter();
  }

  /** Deregisters; retried while it fails, as a registration left behind would keep every GC waiting. */
  #leave(): void {
    if (!this.board || this.#shared > 0) return;
    try {
      this.board.leave();
    } catch {
      this.#leaveRetry = setTimeout(() => this.#leave(), RETRY_MS);
      this.#leaveRetry.unref();
    }
  }

  /** Lowers a fence; retried while it fails, as a fence left up would hold off every other process's writers. */
  #lower(token: string): void {
    try {
      this.board?.lower(token);
    } catch {
      setTimeout(() => this.#lower(token), RETRY_MS).unref();
    }
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `body` as a writer behind `fence`, or just `body` where nothing collects garbage. */
export function asWriter<T>(fence: Fence | undefined, body: () => Promise<T>): Promise<T> {
  return fence ? fence.shared(body) : body();
}

const BOARD_SCHEMA = [
  `CREATE TABLE write_fence_writers (pid INTEGER PRIMARY KEY NOT NULL);
   CREATE TABLE write_fences (token TEXT PRIMARY KEY NOT NULL, pid INTEGER NOT NULL);`,
];

export interface FenceBoardProcess {
  /** This process's id (tests stand for several processes in one). */
  readonly pid?: number;
  readonly isAlive?: (pid: number) => boolean;
}

/** The board in the embedded database every process on the data dir opens. */
export class SqliteFenceBoard implements FenceBoard {
  readonly #pid: number;
  readonly #isAlive: (pid: number) => boolean;
  readonly #enter: () => boolean;
  readonly #fencePids;
  readonly #writerPids;
  readonly #leave;
  readonly #raise;
  readonly #lower;
  readonly #dropWriter;
  readonly #dropFencesOf;

  constructor(db: Database, { pid = process.pid, isAlive = isProcessAlive }: FenceBoardProcess = {}) {
    migrate(db, 'castore.write-fence', BOARD_SCHEMA);
    this.#pid = pid;
    this.#isAlive = isAlive;
    this.#fencePids = db.prepare('SELECT DISTINCT pid FROM write_fences');
    this.#writerPids = db.prepare('SELECT pid FROM write_fence_writers WHERE pid != ?');
    const register = db.prepare('INSERT OR IGNORE INTO write_fence_writers (pid) VALUES (?)');
    this.#leave = db.prepare('DELETE FROM write_fence_writers WHERE pid = ?');
    this.#raise = db.prepare('INSERT INTO write_fences (token, pid) VALUES (?, ?)');
    this.#lower = db.prepare('DELETE FROM write_fences WHERE token = ?');
    this.#dropWriter = this.#leave;
    this.#dropFencesOf = db.prepare('DELETE FROM write_fences WHERE pid = ?');
    this.#enter = writeTransaction(db, () => {
      if (this.fenced()) return false;
      register.run([this.#pid]);
      return true;
    });
  }

  enter(): boolean {
    return storage('register a writer', this.#enter);
  }

  fenced(): boolean {
    return storage('read the fences', () => this.#livePids(readRows('write_fences', this.#fencePids.all([])), this.#dropFencesOf));
  }

  leave(): void {
    storage('deregister a writer', () => this.#leave.run([this.#pid]));
  }

  raise(): string {
    const token = randomUUID();
    storage('raise a fence', () => this.#raise.run([token, this.#pid]));
    return token;
  }

  lower(token: string): void {
    storage('lower a fence', () => this.#lower.run([token]));
  }

  othersWriting(): boolean {
    return storage('read the writers', () => this.#livePids(readRows('write_fence_writers', this.#writerPids.all([this.#pid])), this.#dropWriter));
  }

  /** Whether any of `rows` names a live process; rows of dead ones are dropped (best effort: they are ignored anyway). */
  #livePids(rows: Iterable<{ integer(column: string): number }>, drop: { run(args: unknown[]): unknown }): boolean {
    let live = false;
    for (const row of rows) {
      const pid = row.integer('pid');
      if (pid === this.#pid || this.#isAlive(pid)) live = true;
      else {
        try {
          drop.run([pid]);
        } catch {
          // busy: the next look drops it
        }
      }
    }
    return live;
  }
}

/** Runs a statement of the board, turning driver failures (a busy or full database) into NB_ERR_STORAGE. */
function storage<T>(what: string, statement: () => T): T {
  try {
    return statement();
  } catch (err) {
    if (err instanceof NarBridgeError) throw err;
    throw new NarBridgeError('NB_ERR_STORAGE', `write fence: cannot ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
