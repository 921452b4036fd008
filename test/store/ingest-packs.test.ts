// Ingest into packs, end to end: the NarHash is the NAR's sha256, a large file's digest its whole blake3, and its
// chunks are FastCDC's cuts of it, each under its own blake3.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3, openDatabase, PackBlobService, SqliteDirectoryService } from '../../src/castore/index.js';
import { chunkingParams, chunkLength } from '../../src/castore/blob/fastcdc.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar } from '../../src/store/index.js';

const MiB = 1024 * 1024;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function openStore(): Promise<{ blobs: PackBlobService; directories: SqliteDirectoryService }> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-ingest-off-thread-'));
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const blobs = new PackBlobService(db, join(dir, 'packs'));
  cleanups.push(async () => {
    await blobs.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { blobs, directories: new SqliteDirectoryService(db) };
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

/** The NAR in 100 KiB pieces. */
async function* pieces(nar: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < nar.byteLength; at += 100 * 1024) yield nar.subarray(at, at + 100 * 1024);
}

describe('ingest into packs', () => {
  it("gives the NAR's sha256, the file's blake3 and its FastCDC chunks", async () => {
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
});

function sum(values: readonly number[], count: number): number {
  return values.slice(0, count).reduce((a, b) => a + b, 0);
}
