// Read-ahead over a pack store: a tree of many small files renders byte for byte with a few large reads, not one
// read per file (issue 12: one syscall per small file was what made such NARs slow), and are hashed once on ingest.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { blake3, openDatabase, PackBlobService, SqliteDirectoryService, type Castore, type Database } from '../../src/castore/index.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar, planNar, ReadaheadBudget } from '../../src/store/index.js';
import { patternBytes } from '../castore/blob-service-suite.js';

const FILES = 400;
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function* once(bytes: Uint8Array) {
  yield bytes;
}

async function* tree(): AsyncGenerator<NarEvent> {
  yield { type: 'directory', name: null };
  for (let i = 0; i < FILES; i++) {
    const contents = patternBytes(1000 + ((i * 7919) % 9000), i + 1);
    yield { type: 'file', name: Buffer.from(`f${String(i).padStart(4, '0')}`), executable: false, size: contents.length, contents: once(contents) };
  }
  yield { type: 'end' };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function packStore(): Promise<{ blobs: PackBlobService; castore: Castore }> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-readahead-'));
  const db: Database = openDatabase(join(dir, 'meta.sqlite'));
  const blobs = new PackBlobService(db, join(dir, 'packs'));
  cleanup.push(async () => {
    await blobs.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { blobs, castore: { blobs, directories: new SqliteDirectoryService(db) } };
}

it('renders a tree of many small files from packs with a few large reads', async () => {
  const { blobs, castore } = await packStore();
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  const reads = vi.spyOn(blobs.reader, 'read');
  const rendered = await collect((await planNar(node, castore)).stream());
  expect(rendered.equals(nar)).toBe(true);
  expect(reads.mock.calls.length).toBeGreaterThan(0);
  expect(reads.mock.calls.length).toBeLessThan(FILES / 20);
});

it('hashes each small file once on ingest: the pack store takes the digest the ingest computed', async () => {
  const { blobs, castore } = await packStore();
  const writers = vi.spyOn(blobs, 'openWrite');
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  expect(writers).not.toHaveBeenCalled();
  expect((await collect((await planNar(node, castore)).stream())).equals(nar)).toBe(true);
});

/** A budget that remembers the most it ever had out. */
class WatchedBudget extends ReadaheadBudget {
  peakShared = 0;
  peakTotal = 0;
  override tryTake(held: number, bytes: number): boolean {
    const taken = super.tryTake(held, bytes);
    this.peakShared = Math.max(this.peakShared, this.shared);
    this.peakTotal = Math.max(this.peakTotal, this.total);
    return taken;
  }
}

it('16 concurrent renders together never hold more read-ahead than their own share and the shared budget, and give it all back', async () => {
  const { blobs, castore } = await packStore();
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  // Each stream alone would read its whole tree ahead; here it may hold 256 KiB, plus what it gets of a tenth of one tree.
  const budget = new WatchedBudget(Math.floor(nar.length / 10), 256 * 1024);
  const reads = vi.spyOn(blobs.reader, 'read');
  const rendered = await Promise.all(Array.from({ length: 16 }, async () => collect((await planNar(node, castore, {}, budget)).stream())));
  for (const r of rendered) expect(r.equals(nar)).toBe(true);
  // Still in batches of many files, not a read per file as room comes back a file at a time.
  expect(reads.mock.calls.length).toBeLessThan((16 * FILES) / 10);
  expect(budget.peakShared).toBeGreaterThan(0);
  expect(budget.peakShared).toBeLessThanOrEqual(budget.limit);
  expect(budget.peakTotal).toBeLessThanOrEqual(budget.limit + 16 * budget.ownBytes);
  expect(budget.total).toBe(0);
  expect(budget.shared).toBe(0);
});

it('a stream torn down midway gives its read-ahead back', async () => {
  const { castore } = await packStore();
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  const budget = new WatchedBudget(64 * 1024 * 1024, 64 * 1024);
  const stream = (await planNar(node, castore, {}, budget)).stream();
  await stream.next();
  await stream.next();
  expect(budget.shared).toBeGreaterThan(0);
  await stream.return(undefined);
  await vi.waitFor(() => expect([budget.total, budget.shared]).toEqual([0, 0]));
});

/**
 * Nested directories of small files (some executable, some empty) with symlinks, a file larger than read-ahead takes
 * (streamed when its turn comes) and one in a directory of its own: every path the render takes between batches.
 */
async function* mixedTree(): AsyncGenerator<NarEvent> {
  const file = (name: string, size: number, seed: number, executable = false): NarEvent => ({
    type: 'file',
    name: Buffer.from(name),
    executable,
    size,
    contents: once(patternBytes(size, seed)),
  });
  yield { type: 'directory', name: null };
  for (let d = 0; d < 12; d++) {
    yield { type: 'directory', name: Buffer.from(`d${String(d).padStart(2, '0')}`) };
    for (let i = 0; i < 30; i++)
      yield file(`f${String(i).padStart(2, '0')}`, i % 9 === 4 ? 0 : 100 + (((d * 31 + i) * 977) % 20_000), d * 100 + i + 1, i % 8 === 0);
    if (d === 5) yield file('g-large', 1024 * 1024 + 3, 999);
    yield { type: 'directory', name: Buffer.from('h') };
    yield { type: 'directory', name: Buffer.from('deeper') };
    yield file('only', 1, 7);
    yield { type: 'end' };
    yield { type: 'end' };
    yield { type: 'symlink', name: Buffer.from('link'), target: Buffer.from(`f${d}`) };
    yield { type: 'end' };
  }
  yield file('z-empty', 0, 1);
  yield { type: 'end' };
}

it('renders nested directories of small, empty and executable files, symlinks and a streamed large file byte for byte', async () => {
  const { castore } = await packStore();
  const nar = await collect(writeNar(mixedTree()));
  const { node } = await ingestNar(once(nar), castore);
  const plan = await planNar(node, castore);
  expect(plan.narSize).toBe(nar.length);
  expect((await collect(plan.stream())).equals(nar)).toBe(true);
  // A tight budget: batches of one or a few files, many of them not read yet when their turn comes.
  const tight = await planNar(node, castore, {}, new ReadaheadBudget(0, 8 * 1024));
  expect((await collect(tight.stream())).equals(nar)).toBe(true);
});

it('fails the stream when a batch read fails, and gives its read-ahead back', async () => {
  const { blobs, castore } = await packStore();
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  const budget = new WatchedBudget(64 * 1024 * 1024, 64 * 1024);
  vi.spyOn(blobs, 'readMany').mockRejectedValueOnce(new Error('disk on fire'));
  await expect(collect((await planNar(node, castore, {}, budget)).stream())).rejects.toThrow('disk on fire');
  await vi.waitFor(() => expect([budget.total, budget.shared]).toEqual([0, 0]));
});

it('fails the stream with NB_ERR_MISSING_OBJECT when a blob of a batch is gone', async () => {
  const { blobs, castore } = await packStore();
  const nar = await collect(writeNar(tree()));
  const { node } = await ingestNar(once(nar), castore);
  await blobs.flush();
  blobs.deleteObjects([blake3(patternBytes(1000 + ((200 * 7919) % 9000), 201))]);
  await expect(collect((await planNar(node, castore)).stream())).rejects.toMatchObject({ code: 'NB_ERR_MISSING_OBJECT' });
});
