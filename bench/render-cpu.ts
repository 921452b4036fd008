// `node --import tsx bench/render-cpu.ts [runs] [streams]`: in-process CPU cost of serving a NAR of many small files from
// the pack engine. A tree shaped like the bench's small-files fixture (20,000 files of 1–16 KiB, 20 per directory, two
// levels, a symlink per directory, every 8th file executable) is ingested into a PackBlobService on /dev/shm, then
// rendered `runs` times (default 7, after 2 warm-ups), `streams` at a time (default 1), each through a Readable into a
// sink, as the HTTP route sends it. Each run has a directory service of its own, so it loads the tree afresh (streams
// of one run share it, as concurrent downloads of one path do). Prints process CPU time (user+system) per file
// rendered, median and least of the runs, and the implied single-core MB/s.
// `--cpu-prof FILE` writes a V8 CPU profile of the renders alone (not of the ingest before them) to FILE.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openDatabase, PackBlobService, releaseReadBuffer, SqliteDirectoryService, type Castore, type Node } from '../src/castore/index.js';
import { writeNar, type NarEvent } from '../src/nar/index.js';
import { ingestNar, planNar } from '../src/store/index.js';

const FILES = 20_000;
const PER_DIR = 20;
const DIRS_PER_PARENT = 32;
const args = process.argv.slice(2);
const profileAt = args.indexOf('--cpu-prof');
const profilePath = profileAt >= 0 ? args.splice(profileAt, 2)[1] : undefined;
const runs = Number(args[0] ?? 7);
const streams = Number(args[1] ?? 1);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function* tree(): Generator<NarEvent> {
  let seed = 0x5eed;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pool = Buffer.alloc(768 * 1024);
  for (let i = 0; i < pool.length; i++) pool[i] = 32 + ((i * 2654435761) >>> 25);
  const dirs = FILES / PER_DIR;
  yield { type: 'directory', name: null };
  for (let p = 0; p * DIRS_PER_PARENT < dirs; p++) {
    yield { type: 'directory', name: Buffer.from(`p${String(p).padStart(3, '0')}`) };
    for (let d = p * DIRS_PER_PARENT; d < Math.min(dirs, (p + 1) * DIRS_PER_PARENT); d++) {
      yield { type: 'directory', name: Buffer.from(`d${String(d).padStart(4, '0')}`) };
      for (let i = d * PER_DIR; i < (d + 1) * PER_DIR; i++) {
        const size = 1024 + Math.floor(next() * 15 * 1024);
        const offset = Math.floor(next() * (pool.length - size));
        const executable = i % 8 === 0;
        const contents = pool.subarray(offset, offset + size);
        yield { type: 'file', name: Buffer.from(`f${String(i).padStart(5, '0')}${executable ? '.sh' : '.txt'}`), executable, size, contents: once(contents) };
      }
      yield { type: 'symlink', name: Buffer.from('link'), target: Buffer.from(`f${String(d * PER_DIR).padStart(5, '0')}.sh`) };
      yield { type: 'end' };
    }
    yield { type: 'end' };
  }
  yield { type: 'end' };
}

/** One render into a sink that takes a chunk per turn of the event loop, as a socket would; checks the length. */
async function renderOnce(node: Node, castore: Castore): Promise<void> {
  const plan = await planNar(node, castore);
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.byteLength;
      releaseReadBuffer(chunk);
      setImmediate(done);
    },
  });
  await pipeline(Readable.from(plan.stream(), { objectMode: false }), sink);
  if (bytes !== plan.narSize) throw new Error(`rendered ${bytes} bytes, expected ${plan.narSize}`);
}

const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nar-bridge-render-cpu-'));
const db = openDatabase(join(dir, 'meta.sqlite'));
const blobs = new PackBlobService(db, join(dir, 'packs'));
const castore = (): Castore => ({ blobs, directories: new SqliteDirectoryService(db) });
try {
  const { node, narSize } = await ingestNar(writeNar(tree()), castore());
  await blobs.flush();
  const session = profilePath ? new Session() : null;
  session?.connect();
  await session?.post('Profiler.enable');
  await session?.post('Profiler.start');
  const cpu: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const before = process.cpuUsage();
    const run = castore();
    await Promise.all(Array.from({ length: streams }, () => renderOnce(node, run)));
    const used = process.cpuUsage(before);
    if (i >= 2) cpu.push((used.user + used.system) / streams);
  }
  if (session && profilePath) await writeFile(profilePath, JSON.stringify((await session.post('Profiler.stop')).profile));
  const us = median(cpu);
  console.log(
    `render ${FILES} small files (${(narSize / 2 ** 20).toFixed(0)} MiB): ${(us / FILES).toFixed(2)} µs CPU/file, ${(narSize / us).toFixed(0)} MB/s of CPU (${streams} at a time; median of ${runs}; least ${(Math.min(...cpu) / FILES).toFixed(2)} µs/file; ms: ${cpu.map((c) => (c / 1000).toFixed(0)).join(' ')})`,
  );
} finally {
  await blobs.close();
  db.close();
  await rm(dir, { recursive: true, force: true });
}
