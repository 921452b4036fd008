// PackAppender: one pack file being written by this process. Records are copied into a buffer and written out in
// large sequential writes, a few in flight; fsync happens only when the service flushes.
import { close as closeCb, fdatasync as fdatasyncCb, ftruncate as ftruncateCb, open as openCb, write as writeCb } from 'node:fs';
import { promisify } from 'node:util';
import type { B3Digest } from '../../digest.js';
import { packHeader, RECORD_HEADER_BYTES, writeRecordHeader } from './format.js';

/** One write per this many bytes at most: a thousand syscalls per GiB are noise at disk speed. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** Written-out bytes not yet acknowledged by the OS: bounds ingest memory while the disk catches up. */
const MAX_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/**
 * Write buffers kept for reuse once their bytes are written, shared by every pack of the process: one appender's
 * buffer being filled and those in flight come back here, so a steady ingest allocates none (a fresh allocation per
 * buffer made garbage collection a tenth of ingest CPU time, and freed buffers wait for a GC before RSS drops).
 */
const SPARE_BUFFERS = 8;
const spareBuffers: Buffer[] = [];

function takeBuffer(): Buffer {
  return spareBuffers.pop() ?? Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
}

function giveBuffer(buffer: Buffer): void {
  if (buffer.byteLength === WRITE_BUFFER_BYTES && spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(buffer);
}

const fdOpen = promisify(openCb);
const fdClose = promisify(closeCb);
const fdDatasync = promisify(fdatasyncCb);
const fdTruncate = promisify(ftruncateCb);
const fdWrite = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => writeCb(fd, buffer, offset, length, position, (err, written) => (err ? reject(err) : resolve(written))));

/** Settles once the bytes of one write buffer reached the OS (readable by any fd, not yet durable). */
class Deferred {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => undefined); // awaited by whoever needs the bytes; a failure must not go unhandled
  }
}

export interface Appended {
  /** Where the record's header starts. */
  readonly offset: number;
  /** Settles when the record is readable through any fd; rejects if writing it failed. */
  readonly written: Promise<void>;
}

export class PackAppender {
  /** File length including what is still buffered. */
  #end = 0;
  /** Bytes the OS has acknowledged: everything before this is readable. */
  #written = 0;
  /**
   * Records are copied into `#buffer` (whose first byte lands at file position `#bufferStart`); bytes before
   * `#bufferSubmitted` are on their way to the OS and must not change. A write-out of a few small records hands over
   * just those bytes and the buffer keeps filling after them, so small writes do not cost a fresh buffer each.
   */
  #buffer: Buffer = Buffer.allocUnsafe(0);
  #bufferStart = 0;
  #bufferUsed = 0;
  #bufferSubmitted = 0;
  #bufferDone = new Deferred();
  #inFlight = 0;
  #lastWrite: Promise<void> = Promise.resolve();
  #writeOutScheduled = false;
  #failure: unknown;
  #closed = false;
  /** No more appends: a newer pack took over; it is sealed once flushed. */
  retired = false;

  private constructor(
    readonly id: number,
    private readonly fd: number,
  ) {}

  /** Creates the file (it must not exist) and buffers its header. */
  static async create(id: number, path: string): Promise<PackAppender> {
    const appender = new PackAppender(id, await fdOpen(path, 'wx'));
    appender.#copyIn(packHeader());
    return appender;
  }

  get end(): number {
    return this.#end;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Copies one record in (the caller may reuse `payload` once this settles) and says where it landed; null if the
   * pack was retired meanwhile (its last flush may already have sealed it), so the caller must use the new one.
   * Waits while too many bytes are on their way to the OS.
   */
  async append(digest: B3Digest, payload: Uint8Array): Promise<Appended | null> {
    const need = RECORD_HEADER_BYTES + payload.byteLength;
    while (this.#bufferUsed + need > this.#buffer.byteLength) {
      this.#submit();
      this.#recycle(this.#buffer);
      this.#buffer = need <= WRITE_BUFFER_BYTES ? takeBuffer() : Buffer.allocUnsafe(need);
      this.#bufferStart = this.#end;
      this.#bufferUsed = this.#bufferSubmitted = 0;
      while (this.#inFlight > MAX_BYTES_IN_FLIGHT) await this.#lastWrite.catch(() => undefined);
    }
    this.#throwIfFailed();
    if (this.retired) return null; // checked after the last await: from here to the copy nothing else runs
    const offset = this.#end;
    writeRecordHeader(this.#buffer, this.#bufferUsed, digest, payload);
    this.#buffer.set(payload, this.#bufferUsed + RECORD_HEADER_BYTES);
    this.#bufferUsed += need;
    this.#end += need;
    return { offset, written: this.#bufferDone.promise };
  }

  /** Asks for the buffered bytes to be written soon: appends made in the same turn of the event loop share the write. */
  scheduleWriteOut(): void {
    if (this.#writeOutScheduled) return;
    this.#writeOutScheduled = true;
    setImmediate(() => {
      this.#writeOutScheduled = false;
      this.#submit();
    });
  }

  /** Writes out every buffered byte and fsyncs; returns the length now durable. */
  async sync(): Promise<number> {
    this.#submit();
    await this.#lastWrite;
    this.#throwIfFailed();
    const length = this.#written;
    await fdDatasync(this.fd);
    return length;
  }

  /** Cuts off everything past `length` (an uncommitted tail), e.g. after a failed write, to give the space back. */
  async truncate(length: number): Promise<void> {
    await this.#lastWrite.catch(() => undefined);
    await fdTruncate(this.fd, length);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#lastWrite.catch(() => undefined);
    giveBuffer(this.#buffer);
    this.#buffer = Buffer.allocUnsafe(0);
    await fdClose(this.fd);
  }

  #copyIn(bytes: Buffer): void {
    this.#buffer = takeBuffer();
    bytes.copy(this.#buffer, 0);
    this.#bufferUsed = bytes.byteLength;
    this.#end = bytes.byteLength;
  }

  /** Hands the bytes appended since the last write-out to the write chain (writes run one after another, in file order). */
  #submit(): void {
    if (this.#bufferUsed === this.#bufferSubmitted || this.#closed) return;
    const buffer = this.#buffer.subarray(this.#bufferSubmitted, this.#bufferUsed);
    const length = buffer.byteLength;
    const position = this.#bufferStart + this.#bufferSubmitted;
    const done = this.#bufferDone;
    this.#bufferSubmitted = this.#bufferUsed;
    this.#bufferDone = new Deferred();
    this.#inFlight += length;
    // After a failed write nothing more is written, but every later buffer's waiters still hear about it.
    this.#lastWrite = this.#lastWrite
      .catch(() => undefined)
      .then(async () => {
        try {
          this.#throwIfFailed();
          for (let at = 0; at < length; ) at += await fdWrite(this.fd, buffer, at, length - at, position + at);
          this.#written = position + length;
          done.resolve();
        } catch (err) {
          this.#failure ??= err;
          done.reject(err);
          throw err;
        } finally {
          this.#inFlight -= length;
        }
      });
    this.#lastWrite.catch(() => undefined); // reported through `done` and sync(); the chain itself is never awaited alone
  }

  /** Offers a full buffer for reuse once every write from it is done (writes complete in order: the last one is). */
  #recycle(buffer: Buffer): void {
    if (buffer.byteLength !== WRITE_BUFFER_BYTES) return;
    void this.#lastWrite.then(
      () => giveBuffer(buffer),
      () => undefined,
    );
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
