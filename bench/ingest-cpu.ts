// `node --import tsx bench/ingest-cpu.ts [chunk] [big] [small]` (default: all three): in-process CPU throughput of the
// storage engine's ingest path, median of 5 runs each: FastCDC's chunkLength over 256 MiB of random bytes (in a fresh
// process, then again after 10 passes, when V8 has fully optimized it), and ingestNar into a fresh PackBlobService on
// /dev/shm (so the disk is not what is measured; CPU time counts every thread) of a 256 MiB single-file NAR and of a NAR of 20,000 small files.
// Pick one part to profile it alone: `node --cpu-prof --import tsx bench/ingest-cpu.ts big`.
import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkingParams, chunkLength } from '../src/castore/blob/fastcdc.js';
import { openDatabase, PackBlobService, SqliteDirectoryService } from '../src/castore/index.js';
import { writeNar, type NarEvent } from '../src/nar/index.js';
import { ingestNar } from '../src/store/index.js';

const RUNS = 5;
const MiB = 1024 * 1024;
const SMALL_FILES = 20_000;
const READ_BYTES = MiB;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** CPU seconds the main thread used so far (Linux: its /proc task stat, in clock ticks of 10 ms); NaN elsewhere. */
function mainThreadCpuSeconds(): number {
  const stat = `/proc/self/task/${process.pid}/stat`;
  if (!existsSync(stat)) return Number.NaN;
  const fields = readFileSync(stat, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Wall-clock speed, CPU seconds per GiB of every thread of the process (a worker's and libuv's too) and of the main
 * thread alone: on a shared machine the wall clock is noisy, and the main thread's CPU time bounds the speed.
 */
async function rate(bytes: number, run: () => Promise<void>): Promise<string> {
  const speeds: number[] = [];
  const cpu: number[] = [];
  const mainCpu: number[] = [];
  const perGiB = (seconds: number) => seconds / (bytes / (1024 * MiB));
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const mainStart = mainThreadCpuSeconds();
    await run();
    const used = process.cpuUsage(cpuStart);
    mainCpu.push(perGiB(mainThreadCpuSeconds() - mainStart));
    speeds.push(bytes / MiB / (Number(process.hrtime.bigint() - start) / 1e9));
    cpu.push(perGiB((used.user + used.system) / 1e6));
  }
  const cpuText = `${median(cpu).toFixed(2)} CPU s/GiB, main thread ${median(mainCpu).toFixed(2)}`;
  return `${median(speeds).toFixed(0)} MB/s, ${cpuText} (runs: ${speeds.map((s) => s.toFixed(0)).join(' ')})`;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* pieces(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += READ_BYTES) yield bytes.subarray(at, at + READ_BYTES);
}

async function narOf(events: NarEvent[]): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of writeNar(events)) parts.push(Uint8Array.from(part));
  return Buffer.concat(parts);
}

function singleFile(random: Uint8Array): NarEvent[] {
  return [{ type: 'file', name: null, executable: false, size: random.length, contents: once(random) }];
}

function smallFiles(random: Uint8Array): NarEvent[] {
  const events: NarEvent[] = [{ type: 'directory', name: null }];
  let at = 0;
  for (let i = 0; i < SMALL_FILES; i++) {
    const size = 200 + ((i * 7919) % 9800);
    const contents = random.subarray(at, at + size);
    at += size;
    events.push({ type: 'file', name: Buffer.from(`f${String(i).padStart(5, '0')}`), executable: false, size, contents: once(contents) });
  }
  events.push({ type: 'end' });
  return events;
}

async function ingestFresh(nar: Uint8Array): Promise<void> {
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'nar-bridge-ingest-cpu-'));
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const blobs = new PackBlobService(db, join(dir, 'packs'));
  try {
    await ingestNar(pieces(nar), { blobs, directories: new SqliteDirectoryService(db) });
  } finally {
    await blobs.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const parts = process.argv.slice(2);
const wanted = (part: string) => parts.length === 0 || parts.includes(part);
const random = randomFillSync(new Uint8Array(256 * MiB));
if (wanted('chunk')) {
  const params = chunkingParams();
  const chunkAll = async () => {
    for (let at = 0; at < random.length; ) at += chunkLength(random, at, random.length, params);
  };
  console.log(`chunkLength, 256 MiB random, cold: ${await rate(random.length, chunkAll)}`);
  for (let i = 0; i < 5; i++) await chunkAll();
  console.log(`chunkLength, 256 MiB random, warm: ${await rate(random.length, chunkAll)}`);
}
if (wanted('big')) {
  const big = await narOf(singleFile(random));
  console.log(`ingestNar, 256 MiB single-file NAR: ${await rate(big.length, () => ingestFresh(big))}`);
}
if (wanted('small')) {
  const small = await narOf(smallFiles(random));
  console.log(`ingestNar, ${SMALL_FILES} small files NAR (${(small.length / MiB).toFixed(0)} MiB): ${await rate(small.length, () => ingestFresh(small))}`);
}
