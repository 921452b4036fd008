// A Read served from the pack engine hands each pooled read buffer back once grpc-js has serialised the message that
// ends it, so a large Read reuses a few buffers instead of allocating one per 512 KiB; the bytes arrive intact, also
// when Reads run side by side (their messages are all encoded into one reused buffer).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { blake3, openDatabase, streamReadBuffers, type Database } from '../../src/castore/index.js';
import { PackBlobService } from '../../src/castore/blob/pack/pack-blob-service.js';
import { readAll } from '../castore/blob-service-suite.js';
import { memoryStore } from '../store/memory-store.js';
import { startLoopback } from './loopback.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

it('a large Read from packs hands its read buffers back as it goes, and every byte arrives', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nb-grpc-read-buffers-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const db: Database = openDatabase(join(dir, 'meta.sqlite'));
  cleanup.push(() => {
    db.close();
  });
  const packs = new PackBlobService(db, join(dir, 'packs'));
  cleanup.push(() => packs.close());
  const stored = async (bytes: Uint8Array) => {
    const writer = packs.openWrite();
    await writer.write(bytes);
    const written = await writer.close();
    await packs.flush();
    return written;
  };
  const bytes = randomBytes(16 * 1024 * 1024);
  const digest = await stored(bytes);
  const other = randomBytes(3 * 1024 * 1024 + 7);
  const otherDigest = await stored(other);
  const loopback = await startLoopback('tcp', { ...memoryStore(), blobs: packs });
  cleanup.push(() => loopback.close());

  const returnedBefore = streamReadBuffers.returned;
  const [read, ...others] = await Promise.all([
    readAll(await loopback.blobs.openRead(digest)),
    ...[1, 2, 3].map(async () => readAll(await loopback.blobs.openRead(otherDigest))),
  ]);
  expect(read && blake3(read).equals(digest)).toBe(true);
  expect(read?.byteLength).toBe(bytes.byteLength);
  for (const copy of others) expect(copy && Buffer.from(copy).equals(other)).toBe(true);
  // 16 MiB is read in runs of at most 512 KiB, each lending a view per record: dozens went out and came back.
  expect(streamReadBuffers.returned - returnedBefore).toBeGreaterThanOrEqual(16);
  expect(loopback.errors).toEqual([]);
});
