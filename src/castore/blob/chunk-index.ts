// ChunkIndex: which chunks a chunked blob is made of. LocalChunkIndex keeps one small file per blob,
// <dir>/<hex[0..2]>/<hex>, holding 40-byte records (32-byte chunk digest, u64 LE size), written atomically.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isEnoent, NarBridgeError } from '../../errors.js';
import { B3_DIGEST_LENGTH, B3Digest } from '../digest.js';
import { uint64ToNumber } from '../grpc/uint64.js';
import type { ChunkMeta } from './service.js';
import { claimTempSpace } from './temp-space.js';

export interface ChunkIndex {
  /** The chunks of a chunked blob in order, or null if the blob is not chunked here. */
  get(blob: B3Digest): Promise<readonly ChunkMeta[] | null>;
  /** Records the list; callers store every chunk first, so a listed chunk is always readable. */
  put(blob: B3Digest, chunks: readonly ChunkMeta[]): Promise<void>;
}

const RECORD_BYTES = B3_DIGEST_LENGTH + 8;

export class MemoryChunkIndex implements ChunkIndex {
  readonly #lists = new Map<string, readonly ChunkMeta[]>();

  async get(blob: B3Digest): Promise<readonly ChunkMeta[] | null> {
    return this.#lists.get(blob.toHex()) ?? null;
  }

  async put(blob: B3Digest, chunks: readonly ChunkMeta[]): Promise<void> {
    this.#lists.set(blob.toHex(), [...chunks]);
  }
}

export class LocalChunkIndex implements ChunkIndex {
  readonly #tempDir: string;

  constructor(private readonly dir: string) {
    this.#tempDir = claimTempSpace(join(dir, 'tmp'));
  }

  #path(blob: B3Digest): string {
    const hex = blob.toHex();
    return join(this.dir, hex.slice(0, 2), hex);
  }

  async get(blob: B3Digest): Promise<readonly ChunkMeta[] | null> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#path(blob));
    } catch (err) {
      if (isEnoent(err)) return null;
      throw new NarBridgeError('NB_ERR_STORAGE', 'chunk index: read failed', { cause: err });
    }
    if (bytes.byteLength === 0 || bytes.byteLength % RECORD_BYTES !== 0) {
      throw new NarBridgeError('NB_ERR_STORAGE', `chunk index of blob ${blob.toHex()} is damaged`);
    }
    const chunks: ChunkMeta[] = [];
    for (let at = 0; at < bytes.byteLength; at += RECORD_BYTES) {
      let size: number;
      try {
        size = uint64ToNumber(bytes.readBigUInt64LE(at + B3_DIGEST_LENGTH), 'chunk size');
      } catch (err) {
        throw new NarBridgeError('NB_ERR_STORAGE', `chunk index of blob ${blob.toHex()} is damaged`, { cause: err });
      }
      chunks.push({ digest: B3Digest.parse(bytes.subarray(at, at + B3_DIGEST_LENGTH)), size });
    }
    return chunks;
  }

  /** Temp file, fsync, rename: a reader sees the whole list or none. */
  async put(blob: B3Digest, chunks: readonly ChunkMeta[]): Promise<void> {
    const bytes = Buffer.alloc(chunks.length * RECORD_BYTES);
    chunks.forEach((chunk, i) => {
      bytes.set(chunk.digest.bytes, i * RECORD_BYTES);
      bytes.writeBigUInt64LE(BigInt(chunk.size), i * RECORD_BYTES + B3_DIGEST_LENGTH);
    });
    const temp = join(this.#tempDir, randomUUID());
    const target = this.#path(blob);
    try {
      const file = await open(temp, 'wx');
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(temp, target);
    } catch (err) {
      throw new NarBridgeError('NB_ERR_STORAGE', 'chunk index: write failed', { cause: err });
    }
  }
}
