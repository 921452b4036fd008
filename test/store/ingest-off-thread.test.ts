// Ingest hashes the NAR (sha256) and large blobs (whole-blob blake3) on a worker thread: the digests and chunks are
// those of hashing in this thread, and a worker that dies fails the ingest with nothing of it stored.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3, openDatabase, PackBlobService, SqliteDirectoryService, terminateHashWorker, type Database } from '../../src/castore/index.js';
import { chunkingParams, chunkLength } from '../../src/castore/blob/fastcdc.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar } from '../../src/store/index.js';

const MiB = 1024 * 1024;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function openStore(): Promise<{ blobs: PackBlobService; directories: SqliteDirectoryService; db: Database }> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-ingest-off-thread-'));
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const blobs = new PackBlobService(db, join(dir, 'packs'));
  cleanups.push(async () => {
    await blobs.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { blobs, directories: new SqliteDirectoryService(db), db };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function narOf(big: Uint8Array): Promise<Buffer> {
  const events: NarEvent[] = [
    { type: 'directory', name: null },
    { type: 'file', name: Buffer.from('big'), executable: false, size: big.byteLength, contents: once(big) },
    { type: 'file', name: Buffer.from('small'), executable: true, size: 5, contents: once(Buffer.from('small')) },
    { type: 'end' },
  ];
  const parts: Uint8Array[] = [];
  for await (const part of writeNar(events)) parts.push(Uint8Array.from(part));
  return Buffer.concat(parts);
}

/** The NAR in 100 KiB pieces; `midway` runs once the first 4 MiB were read. */
async function* pieces(nar: Uint8Array, midway?: () => Promise<void>): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < nar.byteLength; at += 100 * 1024) {
    if (midway && at >= 4 * MiB) {
      await midway();
      midway = undefined;
    }
    yield nar.subarray(at, at + 100 * 1024);
  }
}

describe('ingest with hashing on a worker thread', () => {
  it('gives the NarHash, blob digest and chunks of hashing in this thread', async () => {
    const big = randomBytes(9 * MiB + 77);
    const nar = await narOf(big);
    const store = await openStore();
    const { node, narHash, narSize } = await ingestNar(pieces(nar), store);
    expect(Buffer.from(narHash.digest).toString('hex')).toBe(createHash('sha256').update(nar).digest('hex'));
    expect(narSize).toBe(nar.byteLength);
    if (node.kind !== 'directory') throw new Error('root is not a directory');
    const root = await store.directories.get(node.digest);
    const file = root?.entries.find((e) => Buffer.from(e.name.bytes).toString() === 'big')?.node;
    expect(file?.kind === 'file' && file.digest.toHex()).toBe(blake3(big).toHex());
    const params = chunkingParams();
    const expected: number[] = [];
    for (let at = 0; at < big.byteLength; at += expected.at(-1) ?? 0) expected.push(chunkLength(big, at, big.byteLength, params));
    const chunks = file?.kind === 'file' ? await store.blobs.chunks(file.digest) : null;
    expect(chunks?.map((c) => c.size)).toEqual(expected);
    expect(chunks?.map((c) => c.digest.toHex())).toEqual(expected.map((_, i) => blake3(big.subarray(sum(expected, i), sum(expected, i + 1))).toHex()));
  });

  it('fails when the hash worker dies, storing neither Directory nor blob', async () => {
    const big = randomBytes(9 * MiB);
    const nar = await narOf(big);
    const store = await openStore();
    await expect(ingestNar(pieces(nar, terminateHashWorker), store)).rejects.toMatchObject({ code: 'NB_ERR_STORAGE' });
    await store.blobs.flush();
    expect(await store.blobs.has(blake3(big))).toBe(false);
    expect(store.db.prepare('SELECT count(*) AS n FROM castore_directories').get()).toMatchObject({ n: 0 });
    // The next ingest gets a new worker.
    const again = await openStore();
    const { narHash } = await ingestNar(pieces(nar), again);
    expect(Buffer.from(narHash.digest).toString('hex')).toBe(createHash('sha256').update(nar).digest('hex'));
  });
});

function sum(values: readonly number[], count: number): number {
  return values.slice(0, count).reduce((a, b) => a + b, 0);
}
