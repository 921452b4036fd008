// LocalBlobService: blobs as content-addressed files <dir>/<hex[0..2]>/<hex>, written via fsync'd temp files.
import { randomUUID } from 'node:crypto';
import { close as closeCb, fstat as fstatCb, open as openCb, read as readCb } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { isEnoent, NarBridgeError } from '../../errors.js';
import { Blake3Hasher, type B3Digest } from '../digest.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { claimTempSpace } from './temp-space.js';

/** Largest read for openRead: large reads keep syscalls per GiB low when streaming NARs. */
const READ_CHUNK_BYTES = 1024 * 1024;
const TEMP_DIR = 'tmp';
const fdOpen = promisify(openCb);
const fdStat = promisify(fstatCb);
const fdClose = promisify(closeCb);
const fdRead = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => readCb(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));

function storageError(what: string, err: unknown): NarBridgeError {
  return new NarBridgeError('NB_ERR_STORAGE', `blob store: ${what} failed`, { cause: err });
}

/** fsync a directory so a rename or mkdir inside it survives a crash. */
async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class LocalBlobService implements BlobService {
  readonly #tempDir: string;

  /**
   * Creates `dir` if needed and a temp space of its own under `<dir>/tmp`, removing those of processes that are
   * gone; other live processes' (a server while a CLI command opens its data dir) are left alone.
   */
  constructor(private readonly dir: string) {
    this.#tempDir = claimTempSpace(join(dir, TEMP_DIR));
  }

  #path(digest: B3Digest): string {
    const hex = digest.toHex();
    return join(this.dir, hex.slice(0, 2), hex);
  }

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    opts?.signal?.throwIfAborted();
    try {
      await stat(this.#path(digest));
      return true;
    } catch (err) {
      if (isEnoent(err)) return false;
      throw storageError('stat', err);
    }
  }

  /** Blobs are stored whole here. */
  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return (await this.has(digest, opts)) ? [] : null;
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    let fd: number;
    try {
      fd = await fdOpen(this.#path(digest), 'r');
    } catch (err) {
      if (isEnoent(err)) return null;
      throw storageError('open', err);
    }
    return readFile(fd, opts?.offset ?? 0, opts?.size, opts?.signal);
  }

  /** Each blob is durable when its writer closes. */
  async flush(): Promise<void> {}

  openWrite(opts?: CallOptions): BlobWriter {
    return new LocalBlobWriter(this.dir, join(this.#tempDir, randomUUID()), (d) => this.#path(d), opts?.signal);
  }
}

/**
 * Reads sized to the file: a stream with a fixed 1 MiB buffer would allocate that much for every small
 * blob, and garbage collection then dominates serving trees of many small files. Plain fd calls, as
 * FileHandle objects cost a third more per small file. Closes the fd on end, error or early `break`.
 */
async function* readFile(
  fd: number,
  offset: number,
  sizeHint: number | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    if (sizeHint !== undefined && offset === 0 && sizeHint < READ_CHUNK_BYTES) {
      // A small blob of known size is one read: asking one byte more proves where it ends, without an fstat.
      const buffer = Buffer.allocUnsafe(sizeHint + 1);
      const bytesRead = await fdRead(fd, buffer, 0, buffer.byteLength, 0);
      if (bytesRead <= sizeHint) {
        if (bytesRead > 0) yield buffer.subarray(0, bytesRead);
        return;
      }
      // Longer than it should be: read it the general way and let the consumer's size check report it.
    }
    let position = offset;
    let remaining = (await fdStat(fd)).size - offset;
    while (remaining > 0) {
      signal?.throwIfAborted();
      const buffer = Buffer.allocUnsafe(Math.min(remaining, READ_CHUNK_BYTES));
      const bytesRead = await fdRead(fd, buffer, 0, buffer.byteLength, position);
      if (bytesRead === 0) break; // shorter than stat said: the consumer's size check reports it
      position += bytesRead;
      remaining -= bytesRead;
      yield bytesRead === buffer.byteLength ? buffer : buffer.subarray(0, bytesRead);
    }
  } catch (err) {
    throw NarBridgeError.is(err) || (err instanceof Error && err.name === 'AbortError') ? err : storageError('read', err);
  } finally {
    await fdClose(fd);
  }
}

class LocalBlobWriter implements BlobWriter {
  readonly #hasher = new Blake3Hasher();
  /** Opened on first use; every operation chains on `#last` so writes land in order. */
  #file: Promise<FileHandle> | undefined;
  #last: Promise<void> = Promise.resolve();
  #state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly dir: string,
    private readonly tempPath: string,
    private readonly finalPath: (digest: B3Digest) => string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#hasher.update(chunk);
    // Chained synchronously, before any await, so un-awaited writes still land in call order.
    this.#last = this.#last.then(async () => {
      const file = await this.#open();
      for (let offset = 0; offset < chunk.length; ) {
        offset += (await file.write(chunk, offset)).bytesWritten;
      }
    });
    try {
      await this.#last;
    } catch (err) {
      throw storageError('write', err);
    }
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closing';
    try {
      await this.#last;
      const file = await this.#open();
      await file.sync();
      await file.close();
      const digest = this.#hasher.digest();
      await this.#publish(digest);
      this.#state = 'closed';
      return digest;
    } catch (err) {
      await this.#discard();
      throw NarBridgeError.is(err) ? err : storageError('close', err);
    }
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    await this.#discard();
  }

  /** Moves the temp file into place, unless that blob already exists (identical bytes: keep the old one). */
  async #publish(digest: B3Digest): Promise<void> {
    const target = this.finalPath(digest);
    try {
      await stat(target);
      await unlink(this.tempPath);
      return;
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
    const shard = dirname(target);
    if (await mkdir(shard, { recursive: true })) await syncDir(this.dir);
    await rename(this.tempPath, target);
    await syncDir(shard);
  }

  /** Closes and deletes the temp file, whatever state the writes are in. */
  async #discard(): Promise<void> {
    this.#state = 'aborted';
    await this.#last.catch(() => undefined); // a failed write is what we are cleaning up after
    if (!this.#file) return;
    const file = await this.#file.catch(() => null);
    await file?.close().catch(() => undefined); // may already be closed by close()
    await unlink(this.tempPath).catch((err: unknown) => {
      if (!isEnoent(err)) throw storageError('unlink', err);
    });
  }

  #open(): Promise<FileHandle> {
    this.#file ??= open(this.tempPath, 'wx');
    return this.#file;
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`blob writer already ${this.#state}`);
    this.signal?.throwIfAborted();
  }
}
