// PackIndex lookups: many digests at once give exactly what one lookup per digest gives.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { B3Digest, openDatabase, type Database } from '../../../src/castore/index.js';
import { PackIndex } from '../../../src/castore/blob/pack/pack-index.js';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function index(): Promise<PackIndex> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-pack-index-'));
  const db: Database = openDatabase(join(dir, 'meta.sqlite'));
  cleanup.push(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return new PackIndex(db);
}

const digest = () => B3Digest.parse(randomBytes(32));

it('looks up many digests at once as one by one: across batches, with absent and repeated ones', async () => {
  const idx = await index();
  const stored = Array.from({ length: 1200 }, digest);
  const pack = idx.allocatePack(process.pid, 16);
  // Offsets past 2^32 and sizes of all kinds, so no column is narrowed on the way.
  const records = stored.map((d, i) => ({ digest: d, pack, offset: 2 ** 33 + i * 70_000, size: (i * 7919) % 65_536 }));
  idx.commit({ records, lists: [], packs: [{ id: pack, durableBytes: 2 ** 34, sealed: true }] });
  const absent = Array.from({ length: 300 }, digest);
  const asked = [...stored.slice(0, 700), ...absent, stored[3]!, ...stored.slice(700)].reverse();
  const found = idx.places(asked);
  expect(found).toHaveLength(asked.length);
  expect(found.map((p) => p ?? null)).toEqual(asked.map((d) => idx.record(d)));
  expect(found.filter((p) => p !== undefined)).toHaveLength(stored.length + 1);
  expect(found[0]).toEqual({ pack, offset: 2 ** 33 + 1199 * 70_000, size: (1199 * 7919) % 65_536 });
  expect(idx.places([])).toEqual([]);
  expect(idx.places(absent).every((p) => p === undefined)).toBe(true);
});
