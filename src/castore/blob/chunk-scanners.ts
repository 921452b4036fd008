// Where the chunks of a large blob are found and hashed: on the chunking thread (the default), or inline. FastCDC and
// the two blake3s (each chunk's and the whole blob's) are most of what an ingest spends per byte; on the thread they
// run beside the main thread's NAR parsing, sha256 and pack writes instead of after them.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NarBridgeError } from '../../errors.js';
import { B3Digest, Blake3Hasher } from '../digest.js';
import { scanChunks, type Cut, type ScanReply, type ScanRequest } from './chunk-scan.js';
import type { ChunkingParams } from './fastcdc.js';

/** One scan's cuts; the final scan also gives the whole blob's digest. */
export interface Scanned {
  readonly cuts: readonly Cut[];
  readonly whole: B3Digest | null;
}

/** The scans of one blob, in order: each starts where the cuts of the one before ended. */
export interface ScanSession {
  scan(buffer: SharedArrayBuffer, from: number, to: number, final: boolean, params: ChunkingParams): Promise<Scanned>;
  /** The blob was given up: its whole-blob hash state is dropped. */
  drop(): void;
}

export type ChunkScanner = () => ScanSession;

/** Scans on the calling thread. */
export const inlineScanner: ChunkScanner = () => {
  const whole = new Blake3Hasher();
  return {
    async scan(buffer, from, to, final, params) {
      const cuts = scanChunks(new Uint8Array(buffer), from, to, final, params, whole);
      return { cuts, whole: final ? whole.digest() : null };
    },
    drop() {},
  };
};

interface Waiting {
  resolve(reply: ScanReply): void;
  reject(err: unknown): void;
}

/**
 * The one chunking thread of a process, started on first use. It holds the process open only while scans are
 * waiting; if it dies, the scans waiting fail with the reason and the next scan starts a new one.
 */
class ChunkingThread {
  #worker: Worker | null = null;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 0;
  #nextWriter = 0;

  session(): ScanSession {
    const writer = this.#nextWriter++;
    return {
      scan: async (buffer, from, to, final, params) => {
        const reply = await this.#ask({ op: 'scan', id: this.#nextId++, writer, buffer, from, to, final, params });
        if ('error' in reply) throw new NarBridgeError('NB_ERR_STORAGE', `chunking thread: ${reply.error}`);
        return { cuts: reply.cuts, whole: reply.whole ? B3Digest.parse(reply.whole) : null };
      },
      drop: () => this.#worker?.postMessage({ op: 'drop', writer } satisfies ScanRequest),
    };
  }

  #ask(request: ScanRequest & { op: 'scan' }): Promise<ScanReply> {
    const worker = this.#worker ?? this.#start();
    return new Promise<ScanReply>((resolve, reject) => {
      if (this.#waiting.size === 0) worker.ref();
      this.#waiting.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  #start(): Worker {
    const worker = spawnThread();
    worker.unref();
    worker.on('message', (reply: ScanReply) => {
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      waiting?.resolve(reply);
    });
    const fail = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      const err = new NarBridgeError('NB_ERR_STORAGE', `chunking thread stopped: ${why}`);
      for (const waiting of this.#waiting.values()) waiting.reject(err);
      this.#waiting.clear();
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.#worker = worker;
    return worker;
  }
}

/**
 * The thread runs chunking-thread.js beside this module; run from the TypeScript sources (tsx, vitest) it is the .ts
 * file, which the thread can load only once it registered tsx itself (a loader registered here does not reach it).
 */
function spawnThread(): Worker {
  const self = fileURLToPath(import.meta.url);
  const entry = new URL(`./chunking-thread${extname(self)}`, import.meta.url);
  if (extname(self) !== '.ts') return new Worker(entry);
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, {
    eval: true,
  });
}

const thread = new ChunkingThread();

/** Scans on the process's chunking thread. */
export const threadScanner: ChunkScanner = () => thread.session();
