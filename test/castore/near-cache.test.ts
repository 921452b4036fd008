// NearBlobCache as the near tier of a TieredBlobService whose far is the store: bounded on disk, least recently used
// evicted, reads in progress never broken, evicted blobs fetched again from far and verified.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  blake3,
  MemoryBlobService,
  NearBlobCache,
  TieredBlobService,
  type B3Digest,
  type BlobService,
  type NearCacheObserver,
  type TierObserver,
} from '../../src/castore/index.js';

const CAP = 4 * 1024 * 1024;
const BLOB = 200 * 1024;

const dirs: string[] = [];
const caches: NearBlobCache[] = [];
afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

class Counts implements TierObserver, NearCacheObserver {
  fetchedBytes = 0;
  evictedBytes = 0;
  lastSize = 0;
  served(): void {}
  fetched(bytes: number): void {
    this.fetchedBytes += bytes;
  }
  size(bytes: number): void {
    this.lastSize = bytes;
  }
  evicted(bytes: number): void {
    this.evictedBytes += bytes;
  }
}

async function open(cap = CAP) {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-near-'));
  dirs.push(dir);
  const counts = new Counts();
  const cache = new NearBlobCache(dir, cap, counts);
  caches.push(cache);
  const far = new MemoryBlobService();
  return { dir, cache, far, counts, tiered: new TieredBlobService(cache, far, counts, { writes: 'far' }) };
}

async function put(blobs: BlobService, bytes: Uint8Array): Promise<B3Digest> {
  const writer = blobs.openWrite();
  await writer.write(bytes);
  return writer.close();
}

async function read(blobs: BlobService, digest: B3Digest): Promise<Buffer> {
  const contents = await blobs.openRead(digest);
  if (!contents) throw new Error(`${digest.toHex()} missing`);
  const pieces: Uint8Array[] = [];
  for await (const piece of contents) pieces.push(piece);
  return Buffer.concat(pieces);
}

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

describe('NearBlobCache', () => {
  test('filled far beyond its cap it stays under it, keeps what was read recently and drops the least recently read', async () => {
    const { dir, cache, far, counts, tiered } = await open();
    const data = Array.from({ length: 60 }, () => randomBytes(BLOB)); // 12 MB: three times the cap
    const digests = await Promise.all(data.map((bytes) => put(far, bytes)));
    const hot = digests.slice(0, 3);
    let peak = 0;
    for (const [i, digest] of digests.entries()) {
      expect((await read(tiered, digest)).equals(data[i] ?? Buffer.alloc(0))).toBe(true);
      for (const h of hot) await read(tiered, h); // read again and again: must stay
      await cache.flush();
      peak = Math.max(peak, await duBytes(dir));
    }
    expect(peak).toBeLessThanOrEqual(CAP);
    expect(counts.evictedBytes).toBeGreaterThan(CAP);
    expect(counts.lastSize).toBeLessThanOrEqual(CAP);
    for (const h of hot) expect(await cache.has(h)).toBe(true);
    expect(await cache.has(digests[5]!)).toBe(false); // read once, long ago
    expect(await cache.has(digests.at(-1)!)).toBe(true); // read last
  });

  test('an evicted blob is fetched from far again, verified: far sending other bytes fails the read', async () => {
    const { cache, far, counts, tiered } = await open();
    const data = Array.from({ length: 40 }, () => randomBytes(BLOB));
    const digests = await Promise.all(data.map((bytes) => put(far, bytes)));
    for (const digest of digests) await read(tiered, digest);
    const first = digests[0]!;
    expect(await cache.has(first)).toBe(false);
    const before = counts.fetchedBytes;
    expect((await read(tiered, first)).equals(data[0] ?? Buffer.alloc(0))).toBe(true);
    expect(counts.fetchedBytes - before).toBe(BLOB);
    expect(await cache.has(first)).toBe(true);
    // Far now lies about the second one (evicted too): the read fails rather than serving or caching wrong bytes.
    const second = digests[1]!;
    expect(await cache.has(second)).toBe(false);
    const liar: BlobService = {
      has: (d) => far.has(d),
      chunks: (d) => far.chunks(d),
      openRead: async () =>
        (async function* () {
          yield randomBytes(BLOB);
        })(),
      openWrite: () => far.openWrite(),
      flush: () => far.flush(),
    };
    const lying = new TieredBlobService(cache, liar, counts, { writes: 'far' });
    await expect(read(lying, second)).rejects.toThrow(/far tier blob/);
    expect(await cache.has(second)).toBe(false);
  });

  test('a pack being read is not evicted under the reader: the read finishes with the right bytes', async () => {
    const { cache, far, tiered } = await open(4 * CAP);
    const big = randomBytes(6 * BLOB); // read in several runs: the pack is opened again between them
    const bigDigest = await put(far, big);
    await read(tiered, bigDigest);
    await cache.flush();
    const reading = await cache.openRead(bigDigest);
    if (!reading) throw new Error('not cached');
    const iterator = reading[Symbol.asyncIterator]();
    const first = await iterator.next();
    // Meanwhile fills push far past the cap; the pack under the reader is the least recently used.
    for (let i = 0; i < 100; i++) await read(tiered, await put(far, randomBytes(BLOB)));
    expect(await cache.has(bigDigest)).toBe(true);
    const pieces: Uint8Array[] = [first.value as Uint8Array];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) pieces.push(next.value);
    expect(Buffer.concat(pieces).equals(big)).toBe(true);
  });

  test('writes go to far: the cache is not where pushed blobs live', async () => {
    const { cache, far, tiered } = await open();
    const bytes = randomBytes(1000);
    const digest = await put(tiered, bytes);
    expect(digest.equals(blake3(bytes))).toBe(true);
    expect(await far.has(digest)).toBe(true);
    expect(await cache.has(digest)).toBe(false);
  });

  test('a blob larger than an eighth of the cap is served but not cached', async () => {
    const { cache, far, tiered } = await open();
    const bytes = randomBytes(CAP / 4);
    const digest = await put(far, bytes);
    expect((await read(tiered, digest)).equals(bytes)).toBe(true);
    expect(await cache.has(digest)).toBe(false);
  });

  test('a cache that cannot write (its pack directory gone) still serves the read it was filling, uncached', async () => {
    const { dir, cache, far, tiered } = await open();
    const bytes = randomBytes(BLOB);
    const digest = await put(far, bytes);
    await rm(join(dir, 'packs'), { recursive: true });
    expect((await read(tiered, digest)).equals(bytes)).toBe(true);
    expect(await cache.has(digest)).toBe(false);
  });

  test('a damaged cached record fails that read and is dropped: the next read comes from far, right', async () => {
    const { dir, cache, far, counts, tiered } = await open();
    const bytes = randomBytes(BLOB);
    const digest = await put(far, bytes);
    await read(tiered, digest);
    await cache.flush();
    const [pack] = await readdir(join(dir, 'packs'));
    const file = join(dir, 'packs', pack ?? '');
    const raw = await readFile(file);
    raw.writeUInt8(raw.readUInt8(raw.length - 10) ^ 1, raw.length - 10);
    await writeFile(file, raw);
    await expect(read(tiered, digest)).rejects.toThrow(/damaged/);
    expect(await cache.has(digest)).toBe(false);
    const before = counts.fetchedBytes;
    expect((await read(tiered, digest)).equals(bytes)).toBe(true);
    expect(counts.fetchedBytes - before).toBe(BLOB);
  });

  test('readMany: what the cache holds comes back in one pass, the rest is null; through the tiers, filled from far', async () => {
    const { cache, far, counts, tiered } = await open();
    const blobs = Array.from({ length: 6 }, () => randomBytes(3000));
    const digests = await Promise.all(blobs.map((b) => put(far, b)));
    await read(tiered, digests[0]!);
    await read(tiered, digests[1]!);
    const asked = digests.map((digest, i) => ({ digest, size: blobs[i]!.length }));
    const held = await cache.readMany(asked);
    expect(held.map((b) => b !== null)).toEqual([true, true, false, false, false, false]);
    expect(Buffer.from(held[1]!).equals(blobs[1]!)).toBe(true);
    const before = counts.fetchedBytes;
    const all = await tiered.readMany(asked);
    expect(all.every((b, i) => b !== null && Buffer.from(b).equals(blobs[i]!))).toBe(true);
    expect(counts.fetchedBytes - before).toBe(4 * 3000);
    expect((await cache.readMany(asked)).every((b) => b !== null)).toBe(true);
  });

  test('readMany of a damaged cached record fails the batch and drops that blob only', async () => {
    const { dir, cache, far, tiered } = await open();
    const [a, b] = [randomBytes(3000), randomBytes(3000)];
    const [da, db] = [await put(far, a), await put(far, b)];
    await read(tiered, da);
    await read(tiered, db);
    await cache.flush();
    const [pack] = await readdir(join(dir, 'packs'));
    const file = join(dir, 'packs', pack ?? '');
    const raw = await readFile(file);
    raw.writeUInt8(raw.readUInt8(raw.length - 10) ^ 1, raw.length - 10); // inside the last record: b's
    await writeFile(file, raw);
    await expect(
      cache.readMany([
        { digest: da, size: 3000 },
        { digest: db, size: 3000 },
      ]),
    ).rejects.toThrow(/damaged/);
    expect(await cache.has(da)).toBe(true);
    expect(await cache.has(db)).toBe(false);
  });

  test('read times survive a reopen: the blob read last before closing outlives older ones', async () => {
    const first = await open();
    const data = Array.from({ length: 16 }, () => randomBytes(BLOB));
    const digests = await Promise.all(data.map((bytes) => put(first.far, bytes)));
    for (const digest of digests) await read(first.tiered, digest);
    await read(first.tiered, digests[0]!); // the oldest fill is now the most recently read
    await first.cache.close();
    caches.splice(caches.indexOf(first.cache), 1);
    const reopened = new NearBlobCache(first.dir, CAP / 2); // a smaller cap: most must go at once
    caches.push(reopened);
    expect(await duBytes(first.dir)).toBeLessThanOrEqual(CAP / 2);
    expect(await reopened.has(digests[0]!)).toBe(true);
    expect(await reopened.has(digests[1]!)).toBe(false);
  });
});
