// The storage engine's choice, measured: the pack engine against LMDB (lmdb-js, the memory-mapped B-tree store) for
// what a binary cache does with blobs, in process on /dev/shm, one after the other on the same bytes:
//   - store 20,000 small blobs (1–16 KiB) and 2,048 chunks of 128 KiB, then make them durable (one commit each way);
//   - read them all back in the order stored (a NAR render's order): packs through readMany in batches of 64, as the
//     renderer asks, each record's CRC-32 checked; LMDB by key (getBinaryFast: each value copied into one reused
//     buffer), once bare and once with a CRC-32 per value (the check a read from packs always makes: LMDB keeps no
//     checksums of its own);
//   - the bytes each takes on disk, and how much resident memory the reads added (LMDB's mapped pages are resident).
// lmdb is not a dependency of nar-bridge: install it beside, e.g. `npm install --no-save lmdb`, or point
// LMDB_MODULE at its entry. `node --import tsx bench/lmdb-vs-packs.ts [rounds]` (default 3; medians printed).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { HashedBytes, openDatabase, PackBlobService, releaseReadBuffer, type ChunkMeta } from '../src/castore/index.js';

interface Lmdb {
  put(key: Uint8Array, value: Uint8Array): boolean | Promise<boolean>;
  transactionSync<T>(body: () => T): T;
  getBinaryFast(key: Uint8Array): Uint8Array | undefined;
  close(): Promise<void>;
}
type OpenLmdb = (options: { path: string; keyEncoding: 'binary'; encoding: 'binary'; compression: false }) => Lmdb;

const rounds = Number(process.argv[2] ?? 3);
const { open } = (await import(process.env.LMDB_MODULE ?? 'lmdb')) as { open: OpenLmdb };

const SETS = [
  {
    label: '20,000 blobs of 1-16 KiB',
    blobs: Array.from({ length: 20_000 }, (_, i) => HashedBytes.of(randomBytes(1024 + ((i * 7919) % (15 * 1024 + 1))))),
  },
  { label: '2,048 chunks of 128 KiB', blobs: Array.from({ length: 2048 }, () => HashedBytes.of(randomBytes(128 * 1024))) },
];

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return total;
}

interface Measured {
  write: number;
  read: number;
  readChecked: number;
  disk: number;
  /** How much the process's resident memory grew over the reads (mapped pages count: it is what VmHWM measures). */
  rssGrowth: number;
}

function signedMiB(bytes: number): string {
  const mib = Math.round(bytes / 2 ** 20);
  return `${mib > 0 ? '+' : ''}${mib} MiB`;
}

function rssBytes(): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN) * 1024;
}

async function packs(blobs: readonly HashedBytes[], dir: string): Promise<Measured> {
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const service = new PackBlobService(db, join(dir, 'packs'));
  try {
    let started = process.cpuUsage();
    await Promise.all(blobs.map((blob) => service.putHashed(blob)));
    await service.flush();
    const write = cpuMs(started);
    const metas: ChunkMeta[] = blobs.map((blob) => ({ digest: blob.digest, size: blob.bytes.byteLength }));
    started = process.cpuUsage();
    const rssBefore = rssBytes();
    let bytes = 0;
    for (let at = 0; at < metas.length; at += 64) {
      for (const got of await service.readMany(metas.slice(at, at + 64))) {
        if (!got) throw new Error('a blob is missing from the packs');
        bytes += got.byteLength;
        releaseReadBuffer(got);
      }
    }
    const read = cpuMs(started);
    const rssGrowth = rssBytes() - rssBefore;
    if (bytes !== metas.reduce((sum, m) => sum + m.size, 0)) throw new Error('packs returned the wrong bytes');
    return { write, read, readChecked: read, disk: await sizeOf(dir), rssGrowth };
  } finally {
    await service.close();
    db.close();
  }
}

async function lmdb(blobs: readonly HashedBytes[], dir: string): Promise<Measured> {
  const db = open({ path: join(dir, 'lmdb'), keyEncoding: 'binary', encoding: 'binary', compression: false });
  try {
    const started = process.cpuUsage();
    db.transactionSync(() => {
      for (const blob of blobs) db.put(blob.digest.bytes, blob.bytes);
    });
    const write = cpuMs(started);
    const readAll = (check: boolean): number => {
      const at = process.cpuUsage();
      let bytes = 0;
      for (const blob of blobs) {
        const fast = db.getBinaryFast(blob.digest.bytes);
        if (!fast) throw new Error('a blob is missing from LMDB');
        // lmdb-js copies the value into one buffer it reuses and sets `length` on it: the value is that prefix.
        const got = fast.subarray(0, fast.length);
        if (check) crc32(got);
        bytes += got.byteLength;
      }
      if (bytes !== blobs.reduce((sum, b) => sum + b.bytes.byteLength, 0)) throw new Error('LMDB returned the wrong bytes');
      return cpuMs(at);
    };
    const rssBefore = rssBytes();
    const read = readAll(false);
    const rssGrowth = rssBytes() - rssBefore;
    const readChecked = readAll(true);
    return { write, read, readChecked, disk: await sizeOf(dir), rssGrowth };
  } finally {
    await db.close();
  }
}

const parent = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
for (const set of SETS) {
  const totalBytes = set.blobs.reduce((sum, b) => sum + b.bytes.byteLength, 0);
  const results: Record<'packs' | 'lmdb', Measured[]> = { packs: [], lmdb: [] };
  for (let round = 0; round < rounds + 1; round++) {
    for (const engine of round % 2 === 0 ? (['packs', 'lmdb'] as const) : (['lmdb', 'packs'] as const)) {
      const dir = await mkdtemp(join(parent, `nb-bench-${engine}-`));
      try {
        const measured = engine === 'packs' ? await packs(set.blobs, dir) : await lmdb(set.blobs, dir);
        if (round > 0) results[engine].push(measured); // round 0 warms both up
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const perBlob = (ms: number) => `${((ms * 1000) / set.blobs.length).toFixed(2)} µs/blob, ${(totalBytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`\n${set.label} (${(totalBytes / 2 ** 20).toFixed(0)} MiB), CPU time, median of ${rounds}:`);
  for (const engine of ['packs', 'lmdb'] as const) {
    const m = results[engine];
    console.log(
      `  ${engine.padEnd(5)}  store+durable ${perBlob(median(m.map((r) => r.write)))} | read ${perBlob(median(m.map((r) => r.read)))} | read with CRC-32 ${perBlob(median(m.map((r) => r.readChecked)))} | on disk ${(median(m.map((r) => r.disk)) / totalBytes).toFixed(2)} x the bytes | RSS ${signedMiB(median(m.map((r) => r.rssGrowth)))} over the read`,
    );
  }
}
