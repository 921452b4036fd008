// HTTP-side upload limits: the narinfo body cap, an idle timer on upload bodies, and a cap on NAR
// uploads ingested at once (extra ones wait their turn without their bodies being read).
import type { IncomingMessage } from 'node:http';
import { NarBridgeError } from '../errors.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from '../store/index.js';

export interface HttpLimits {
  readonly upload: UploadLimits;
  readonly maxNarInfoBytes: number;
  /** An upload body that sends nothing for this long is refused and its connection closed. */
  readonly uploadIdleTimeoutMs: number;
  readonly maxConcurrentUploads: number;
}

/** A narinfo lists basenames of its references; even a few thousand of them stay far below this. */
export const DEFAULT_MAX_NARINFO_BYTES = 1024 * 1024;
/** curl itself gives up on a stalled transfer long before; a healthy client is never a minute silent. */
export const DEFAULT_UPLOAD_IDLE_TIMEOUT_MS = 60_000;
/**
 * Above Nix's own `http-connections = 25`, so one pushing client never waits, while bounding the
 * decoder processes, open blob files and buffers that concurrent ingests hold.
 */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 32;

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  upload: DEFAULT_UPLOAD_LIMITS,
  maxNarInfoBytes: DEFAULT_MAX_NARINFO_BYTES,
  uploadIdleTimeoutMs: DEFAULT_UPLOAD_IDLE_TIMEOUT_MS,
  maxConcurrentUploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
};

/** A request whose body is read, and where the bytes read are counted (a FastifyRequest is one). */
export interface BodySource {
  readonly raw: IncomingMessage;
  bodyBytes: number;
}

/**
 * The request body, failing with NB_ERR_TIMEOUT when a chunk we asked for takes longer than `idleMs`.
 * The timer runs only while we wait on the client, so our own slow writes never count, and none is
 * left running once we stop asking. (The refusal closes the connection: the body is unread, server.ts.)
 * Counts what it reads into `request.bodyBytes`, for the line logged when a client goes away mid-upload.
 */
export async function* idleLimited(request: BodySource, idleMs: number): AsyncGenerator<Uint8Array, void, undefined> {
  const chunks = request.raw[Symbol.asyncIterator]();
  // One timer, restarted per wait: a setTimeout and clearTimeout per 64 KiB chunk cost about 0.2 s of CPU per GiB
  // (each cleared the only timer of its duration, so Node's timer lists were torn down and rebuilt every time).
  let expire: ((err: Error) => void) | null = null;
  const timer = setTimeout(() => expire?.(new NarBridgeError('NB_ERR_TIMEOUT', `upload sent nothing for ${idleMs} ms`)), idleMs);
  try {
    for (;;) {
      timer.refresh();
      const next = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
        expire = reject;
        chunks.next().then(resolve, reject);
      });
      expire = null;
      if (next.done) return;
      const chunk = next.value as Uint8Array;
      request.bodyBytes += chunk.byteLength;
      yield chunk;
    }
  } finally {
    expire = null;
    clearTimeout(timer);
  }
}

/** A counting semaphore for NAR uploads; a waiter whose client goes away leaves the queue. */
export class UploadSlots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Runs `work` once a slot is free; rejects, without running it, if `request` closes first. */
  async run<T>(request: IncomingMessage, work: () => Promise<T>): Promise<T> {
    await this.#acquire(request);
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  async #acquire(request: IncomingMessage): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const granted = () => {
        request.off('close', gone);
        resolve();
      };
      const gone = () => {
        this.#waiting.splice(this.#waiting.indexOf(granted), 1);
        reject(new NarBridgeError('NB_ERR_TIMEOUT', 'client went away while waiting for an upload slot'));
      };
      request.once('close', gone);
      this.#waiting.push(granted);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
