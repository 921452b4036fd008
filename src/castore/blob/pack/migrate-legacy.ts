// Moves a data dir of the file-per-blob layout (blobs/<hh>/<hex>, chunk lists under chunks/<hh>/<hex>) into packs,
// in place. Resumable: a file is deleted only after its contents were flushed into a pack, so an interrupted run
// leaves every object in one place or the other (or briefly both), and the next run carries on.
import { createReadStream } from 'node:fs';
import { readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isEnoent } from '../../../errors.js';
import { B3Digest } from '../../digest.js';
import { LocalChunkIndex } from '../chunk-index.js';
import type { PackBlobService } from './pack-blob-service.js';

/** Flush and delete the moved files every this many bytes or files: bounds what an interruption redoes. */
const BATCH_BYTES = 256 * 1024 * 1024;
const BATCH_FILES = 5000;
const READ_BYTES = 1024 * 1024;
const SHARD = /^[0-9a-f]{2}$/;
const OBJECT = /^[0-9a-f]{64}$/;

export interface LegacyMigration {
  readonly blobs: number;
  readonly bytes: number;
  readonly chunkLists: number;
  /** Files left in place because their contents are not what their name says, or a chunk they list is gone. */
  readonly problems: readonly string[];
}

export interface LegacyMigrationOptions {
  /** One line per batch, for a log or a terminal. */
  readonly progress?: (line: string) => void;
  /** Stop after this many files (tests use it to interrupt a run). */
  readonly stopAfterFiles?: number;
}

/** Whether `dataDir` still holds objects of the file-per-blob layout. */
export async function hasLegacyLayout(dataDir: string): Promise<boolean> {
  for (const dir of ['blobs', 'chunks']) if ((await shards(join(dataDir, dir))).length > 0) return true;
  return false;
}

export async function migrateLegacyLayout(dataDir: string, packs: PackBlobService, opts: LegacyMigrationOptions = {}): Promise<LegacyMigration> {
  const progress = opts.progress ?? (() => undefined);
  const problems: string[] = [];
  let blobs = 0;
  let bytes = 0;
  let chunkLists = 0;
  let budget = opts.stopAfterFiles ?? Infinity;
  let moved: string[] = [];
  let batchBytes = 0;
  const commit = async () => {
    await packs.flush();
    for (const file of moved) await unlink(file);
    moved = [];
    batchBytes = 0;
  };

  const blobDir = join(dataDir, 'blobs');
  for (const { file, name } of await objectFiles(blobDir)) {
    if (budget-- <= 0) break;
    const expected = B3Digest.fromHex(name);
    if (!(await packs.has(expected))) {
      const writer = packs.openWrite();
      let size = 0;
      try {
        for await (const piece of createReadStream(file, { highWaterMark: READ_BYTES }) as AsyncIterable<Buffer>) {
          size += piece.byteLength;
          await writer.write(piece);
        }
      } catch (err) {
        await writer.abort(err);
        throw err;
      }
      if (!(await writer.close()).equals(expected)) {
        problems.push(`${file}: contents do not hash to its name; left in place`);
        continue;
      }
      bytes += size;
      batchBytes += size;
    }
    moved.push(file);
    blobs++;
    if (batchBytes >= BATCH_BYTES || moved.length >= BATCH_FILES) {
      await commit();
      progress(`migrating blobs into packs: ${blobs} files (${(bytes / 1024 / 1024).toFixed(0)} MiB) moved`);
    }
  }
  await commit();

  const chunkDir = join(dataDir, 'chunks');
  if (budget > 0 && (await shards(chunkDir)).length > 0) {
    const lists = new LocalChunkIndex(chunkDir);
    for (const { file, name } of await objectFiles(chunkDir)) {
      if (budget-- <= 0) break;
      const digest = B3Digest.fromHex(name);
      const chunks = await lists.get(digest);
      if (!chunks) continue;
      const missing = [];
      for (const chunk of chunks) if ((await packs.size(chunk.digest)) !== chunk.size) missing.push(chunk.digest.toHex());
      if (missing.length > 0) {
        problems.push(`${file}: chunk ${missing[0]} is missing; left in place`);
        continue;
      }
      packs.addChunkList(digest, chunks);
      moved.push(file);
      chunkLists++;
      if (moved.length >= BATCH_FILES) await commit();
    }
    await commit();
  }
  if (budget > 0 && problems.length === 0) {
    for (const dir of [blobDir, chunkDir]) await removeEmptyTree(dir);
  }
  progress(
    `migration into packs: ${blobs} blobs (${(bytes / 1024 / 1024).toFixed(0)} MiB), ${chunkLists} chunk lists moved${problems.length ? `, ${problems.length} problems` : ''}`,
  );
  return { blobs, bytes, chunkLists, problems };
}

async function shards(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => SHARD.test(name));
  } catch (err) {
    if (isEnoent(err)) return [];
    throw err;
  }
}

/** `<dir>/<hh>/<64 hex>` files, shard by shard. */
async function objectFiles(dir: string): Promise<Array<{ file: string; name: string }>> {
  const found: Array<{ file: string; name: string }> = [];
  for (const shard of await shards(dir)) {
    for (const name of await readdir(join(dir, shard))) if (OBJECT.test(name)) found.push({ file: join(dir, shard, name), name });
  }
  return found;
}

/** Removes the old layout's directories once they hold no object: shards, the temp dir of unfinished writes, the root. */
async function removeEmptyTree(dir: string): Promise<void> {
  for (const shard of await shards(dir)) await rmdir(join(dir, shard)).catch(() => undefined); // non-empty: keep
  await rm(join(dir, 'tmp'), { recursive: true, force: true });
  await rmdir(dir).catch(() => undefined);
}
