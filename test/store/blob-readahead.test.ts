// Read-ahead over a pack store: a tree of many small files renders byte for byte with a few large reads, not one
// read per file (issue 12: one syscall per small file was what made such NARs slow), and are hashed once on ingest.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { openDatabase, PackBlobService, SqliteDirectoryService, type Castore, type Database } from '../../src/castore/index.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar, planNar } from '../../src/store/index.js';
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
