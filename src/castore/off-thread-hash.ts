// OffThreadHasher: the sha256 or blake3 of a byte stream, computed on a worker thread. Ingesting a large NAR feeds
// each byte to sha256 (the NarHash), FastCDC, a chunk's blake3, the whole blob's blake3 and a CRC: on one core that
// is about 2.5 ns a byte. Hashing the big streams beside the main thread's parsing and chunking, instead of between
// them, lets ingest use a second core; the main thread only copies the bytes into batches (~0.1 ns a byte).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { blake3 as nativeBlake3 } from '@napi-rs/blake-hash';
import { NarBridgeError } from '../errors.js';

export type StreamHashAlgorithm = 'sha256' | 'blake3';

/** Bytes per message to the worker: a thousand messages per GiB cost about a millisecond each way in total. */
const BATCH_BYTES = 1024 * 1024;
/** Batches one stream may have on their way to the worker: bounds its memory and keeps the worker busy meanwhile. */
const BATCHES_IN_FLIGHT = 2;
/**
 * Batch buffers kept for reuse by every stream of the process (a fresh one is zero-filled, and garbage to collect).
 * They are SharedArrayBuffers, lent to the worker and handed back, never transferred: transferring detaches an
 * ArrayBuffer, and once any ArrayBuffer of the process was detached V8's optimized code checks every typed-array
 * access for it, which made FastCDC's loop ~30% slower (1.28 → 0.91 GB/s, measured) for the rest of the process.
 */
const SPARE_BATCHES = 4;
const spareBatches: SharedArrayBuffer[] = [];

function takeBatch(): SharedArrayBuffer {
  return spareBatches.pop() ?? new SharedArrayBuffer(BATCH_BYTES);
}

function giveBatch(batch: SharedArrayBuffer): void {
  if (spareBatches.length < SPARE_BATCHES) spareBatches.push(batch);
}

/**
 * The worker: one hasher per stream id, fed batches in order (a message port keeps order), each batch handed back for
 * reuse once hashed. Plain CommonJS run with `eval`, so it needs no build step and works the same under tsx.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { Blake3Hasher } = require(workerData.blake3Module);
const hashers = new Map();
parentPort.on('message', (m) => {
  if (m.drop) { hashers.delete(m.id); return; }
  let hasher = hashers.get(m.id);
  if (!hasher) { hasher = m.algorithm === 'sha256' ? createHash('sha256') : new Blake3Hasher(); hashers.set(m.id, hasher); }
  if (m.batch) {
    hasher.update(Buffer.from(m.batch, 0, m.length));
    parentPort.postMessage({ id: m.id, batch: m.batch });
  }
  if (m.end) {
    hashers.delete(m.id);
    const digest = m.algorithm === 'sha256' ? hasher.digest() : hasher.digestBuffer();
    parentPort.postMessage({ id: m.id, digest });
  }
});
`;

/**
 * The worker allocates a few small objects per batch and nothing that lives: a small young generation is scavenged
 * often instead of growing resident memory by megabytes before its first collection.
 */
const WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 };

interface ToWorker {
  readonly id: number;
  readonly algorithm?: StreamHashAlgorithm;
  readonly batch?: SharedArrayBuffer;
  readonly length?: number;
  readonly end?: boolean;
  readonly drop?: boolean;
}

interface FromWorker {
  readonly id: number;
  readonly batch?: SharedArrayBuffer;
  readonly digest?: Uint8Array;
}

/** What a stream hears from the worker. */
interface StreamListener {
  batchBack(batch: SharedArrayBuffer): void;
  digest(digest: Uint8Array): void;
  fail(err: unknown): void;
}

/** One worker thread for every stream of the process, started with the first large stream; replaced if it dies. */
class HashWorker {
  readonly #worker: Worker;
  readonly #streams = new Map<number, StreamListener>();
  #nextId = 1;
  /** Replies owed (a batch back, a digest): the worker keeps the process alive only while one is. */
  #owed = 0;
  #failure: unknown;

  constructor() {
    const blake3Module = createRequire(import.meta.url).resolve('@napi-rs/blake-hash');
    // No execArgv: the parent's (`--input-type=module`, a loader such as tsx) would change or slow what `eval` runs.
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { blake3Module }, resourceLimits: WORKER_HEAP_LIMITS });
    this.#worker.unref();
    this.#worker.on('message', (m: FromWorker) => {
      this.#owe(-1);
      const stream = this.#streams.get(m.id);
      if (m.batch) {
        if (stream) stream.batchBack(m.batch);
        else giveBatch(m.batch);
      }
      if (m.digest && stream) {
        this.#streams.delete(m.id);
        stream.digest(m.digest);
      }
    });
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => this.#die(new Error(`hash worker exited with code ${code}`)));
  }

  open(listener: StreamListener): number {
    const id = this.#nextId++;
    this.#streams.set(id, listener);
    return id;
  }

  post(message: ToWorker): void {
    if (message.drop) this.#streams.delete(message.id);
    this.#owe((message.batch ? 1 : 0) + (message.end ? 1 : 0));
    this.#worker.postMessage(message);
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  #owe(change: number): void {
    const before = this.#owed;
    this.#owed += change;
    if (before > 0 && this.#owed === 0) this.#worker.unref();
    else if (before === 0 && this.#owed > 0) this.#worker.ref();
  }

  #die(cause: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = new NarBridgeError('NB_ERR_STORAGE', 'hash worker thread failed', { cause });
    if (current === this) current = null;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) stream.fail(this.#failure);
  }
}

let current: HashWorker | null = null;

function hashWorker(): HashWorker {
  current ??= new HashWorker();
  return current;
}

/** Ends the current hash worker, failing the streams it is hashing (for tests of that failure). */
export async function terminateHashWorker(): Promise<void> {
  await current?.terminate();
}

/**
 * Incremental sha256 or blake3. A stream shorter than one batch is hashed in this thread at `digest()` (no message
 * round trip for small files and NARs); a longer one is copied into batches the worker hashes while this thread goes
 * on, at most BATCHES_IN_FLIGHT at a time: `update` returns a promise only when it must wait for the worker.
 */
export class OffThreadHasher {
  #batch: SharedArrayBuffer | null = null;
  #used = 0;
  #worker: HashWorker | null = null;
  #id = 0;
  #inFlight = 0;
  #wake: (() => void) | null = null;
  #failure: unknown;
  #result: { resolve: (digest: Uint8Array) => void; reject: (err: unknown) => void } | null = null;
  #done = false;

  constructor(readonly algorithm: StreamHashAlgorithm) {}

  /** Takes in `bytes` (copied: the caller may reuse them at once); a returned promise must settle before the next call. */
  update(bytes: Uint8Array): Promise<void> | undefined {
    this.#check();
    for (let at = 0; at < bytes.byteLength; ) {
      if (this.#used === BATCH_BYTES && !this.#send()) return this.#updateLater(bytes.subarray(at));
      this.#batch ??= takeBatch();
      const take = Math.min(bytes.byteLength - at, BATCH_BYTES - this.#used);
      new Uint8Array(this.#batch, this.#used, take).set(bytes.subarray(at, at + take));
      this.#used += take;
      at += take;
    }
    return undefined;
  }

  /** The digest of everything given to `update`; the hasher is done after this. */
  async digest(): Promise<Uint8Array> {
    this.#check();
    this.#done = true;
    const batch = this.#batch;
    if (!this.#worker) {
      const bytes = batch ? Buffer.from(batch, 0, this.#used) : Buffer.alloc(0);
      const digest = this.algorithm === 'sha256' ? createHash('sha256').update(bytes).digest() : nativeBlake3(bytes);
      if (batch) giveBatch(batch);
      this.#batch = null;
      return Uint8Array.from(digest);
    }
    const result = new Promise<Uint8Array>((resolve, reject) => {
      this.#result = { resolve, reject };
    });
    this.#batch = null;
    this.#worker.post({ id: this.#id, algorithm: this.algorithm, ...(batch ? { batch, length: this.#used } : {}), end: true });
    return result;
  }

  /** Forgets the stream; batches on their way still come back for reuse. */
  abort(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#batch) giveBatch(this.#batch);
    this.#batch = null;
    if (this.#worker && this.#failure === undefined) this.#worker.post({ id: this.#id, drop: true });
  }

  /** Sends the full batch, unless BATCHES_IN_FLIGHT are out already. */
  #send(): boolean {
    if (this.#inFlight >= BATCHES_IN_FLIGHT) return false;
    if (!this.#worker) {
      this.#worker = hashWorker();
      this.#id = this.#worker.open({
        batchBack: (back) => {
          this.#inFlight--;
          giveBatch(back);
          this.#wakeUp();
        },
        digest: (digest) => this.#result?.resolve(Uint8Array.from(digest)),
        fail: (err) => {
          this.#failure = err;
          this.#result?.reject(err);
          this.#wakeUp();
        },
      });
    }
    const batch = this.#batch;
    if (!batch) return true;
    this.#batch = null;
    this.#used = 0;
    this.#inFlight++;
    this.#worker.post({ id: this.#id, algorithm: this.algorithm, batch, length: BATCH_BYTES });
    return true;
  }

  async #updateLater(rest: Uint8Array): Promise<void> {
    while (this.#inFlight >= BATCHES_IN_FLIGHT && this.#failure === undefined) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    await this.update(rest);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#done) throw new Error('hasher already finished');
  }
}
