// NAR download throughput through B (a nar-bridge whose three services are A's, over tvix gRPC) against direct from
// A, for one large file and many small files, with added round-trip time between B and A, and through a B that
// keeps a near cache (--composition, A as far tier) on a first and on repeated pulls (the repeats taken turn about
// with pulls direct from A, each with its CPU per pull). Standalone (it needs no Nix):
//   npx tsx bench/grpc-throughput.ts [--large-mib 1024] [--small-files 20000] [--rtt-ms 0,5,20] [--runs 3]
//                                    [--entry bin/nar-bridge.js] [--cpu-prof DIR]
// --entry runs another checkout's CLI for A and B (a before/after comparison); --cpu-prof writes V8 profiles of both.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createCipheriv } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { openLocalStore } from '../src/cli/open-store.js';
import { writeNar, type NarEvent } from '../src/nar/index.js';
import { StorePath } from '../src/nix/index.js';
import { ingestNar } from '../src/store/index.js';
import { startDelayProxy, type DelayProxy } from './delay-proxy.js';

const { values: args } = parseArgs({
  options: {
    'large-mib': { type: 'string', default: '1024' },
    'small-files': { type: 'string', default: '20000' },
    'rtt-ms': { type: 'string', default: '0,5,20' },
    runs: { type: 'string', default: '3' },
    entry: { type: 'string', default: join(import.meta.dirname, '..', 'bin', 'nar-bridge.js') },
    'cpu-prof': { type: 'string' },
  },
});
const LARGE_MIB = Number(args['large-mib']);
const SMALL_FILES = Number(args['small-files']);
const RTTS_MS = (args['rtt-ms'] ?? '0').split(',').map(Number);
const RUNS = Number(args.runs);
const ENTRY = resolve(args.entry ?? '');
const CPU_PROF_DIR = args['cpu-prof'] === undefined ? null : resolve(args['cpu-prof']);
/** The small files: 1–16 KiB, 20 per directory. */
const FILES_PER_DIR = 20;
const MB = 1e6;

/** Incompressible, deterministic bytes (AES-CTR keystream), in 1 MiB pieces. */
async function* pseudoRandom(size: number, seed: number): AsyncGenerator<Uint8Array> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed % 256), Buffer.alloc(16, Math.floor(seed / 256) % 256));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
}

async function* largeFileNar(): AsyncGenerator<NarEvent> {
  const size = LARGE_MIB * 1024 * 1024;
  yield { type: 'file', name: null, executable: false, size, contents: pseudoRandom(size, 1) };
}

async function* smallFilesNar(): AsyncGenerator<NarEvent> {
  yield { type: 'directory', name: null };
  for (let d = 0; d * FILES_PER_DIR < SMALL_FILES; d++) {
    yield { type: 'directory', name: Buffer.from(`d${String(d).padStart(5, '0')}`) };
    for (let f = 0; f < FILES_PER_DIR && d * FILES_PER_DIR + f < SMALL_FILES; f++) {
      const i = d * FILES_PER_DIR + f;
      const size = 1024 + ((i * 7919) % (15 * 1024 + 1));
      yield { type: 'file', name: Buffer.from(`f${String(f).padStart(3, '0')}`), executable: false, size, contents: pseudoRandom(size, i + 2) };
    }
    yield { type: 'end' };
  }
  yield { type: 'end' };
}

const PATHS = [
  { label: `1 file of ${LARGE_MIB} MiB`, basename: '00000000000000000000000000000000-bench-large', events: largeFileNar },
  { label: `${SMALL_FILES} files of 1-16 KiB`, basename: '11111111111111111111111111111111-bench-small', events: smallFilesNar },
];

async function populate(dataDir: string): Promise<void> {
  const local = await openLocalStore(dataDir);
  for (const path of PATHS) {
    const { node, narHash, narSize } = await ingestNar(Readable.from(writeNar(path.events())), local.store);
    await local.store.pathInfos.put({ storePath: StorePath.parseBasename(path.basename), node, references: [], narHash, narSize, signatures: [] });
  }
  local.close();
}

interface Server {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

let nextPort = 20_000 + Math.floor(Math.random() * 20_000);

async function serve(dataDir: string, extra: readonly string[]): Promise<Server> {
  const port = nextPort++;
  const profile = CPU_PROF_DIR === null ? [] : ['--cpu-prof', '--cpu-prof-dir', CPU_PROF_DIR];
  const child: ChildProcess = spawn(
    process.execPath,
    [...profile, ENTRY, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', ...extra],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${url}/nix-cache-info`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return {
        url,
        pid: child.pid ?? 0,
        async stop() {
          child.kill('SIGTERM');
          await once(child, 'exit');
        },
      };
    }
    await sleep(100);
  }
  throw new Error(`server on ${port} did not start`);
}

/** One download of the NAR the narinfo names: MB/s and bytes. */
async function pull(base: string, basename: string): Promise<{ mbps: number; bytes: number }> {
  const narinfo = await (await fetch(`${base}/${basename.slice(0, 32)}.narinfo`)).text();
  const url = /^URL: (.*)$/m.exec(narinfo)?.[1];
  if (!url) throw new Error(`no URL in narinfo from ${base}: ${narinfo}`);
  const started = process.hrtime.bigint();
  // node:http, no Accept-Encoding (what Nix sends for a NAR): fetch would ask for gzip/br and measure compression.
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${base}/${url}`, resolve).on('error', reject));
  if (response.statusCode !== 200) throw new Error(`${base}/${url}: ${response.statusCode}`);
  let bytes = 0;
  for await (const chunk of response) bytes += (chunk as Buffer).byteLength;
  return { mbps: bytes / MB / (Number(process.hrtime.bigint() - started) / 1e9), bytes };
}

/**
 * CPU seconds (user + system) a server and its worker processes have used so far, from /proc: on a machine others
 * share, wall-clock throughput swings with their load, the CPU a pull costs much less.
 */
async function cpuSeconds(pid: number): Promise<number> {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    // Fields after the parenthesised command: state ppid ... utime (14th field) stime (15th).
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields) stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  const ours = new Set([pid]);
  let ticks = 0;
  for (let grown = true; grown; ) {
    grown = false;
    for (const [id, { ppid }] of stats) {
      if (ours.has(ppid) && !ours.has(id)) {
        ours.add(id);
        grown = true;
      }
    }
  }
  for (const id of ours) ticks += stats.get(id)?.ticks ?? 0;
  return ticks / 100; // USER_HZ
}

/**
 * Median MB/s of `RUNS` downloads from each of `bases`, taken turn about (a, b, a, b, ...), with the CPU each server
 * spent per pull: medians minutes apart compare two moments of a shared machine's load, turns compare one.
 */
async function turnAbout(servers: ReadonlyArray<{ url: string; pid: number }>, basename: string): Promise<Array<{ mbps: number; cpuMs: number }>> {
  const runs = servers.map(() => ({ mbps: [] as number[], cpu: 0 }));
  for (let i = 0; i < RUNS; i++) {
    // Each goes first every other run: the one after pays for what the one before left (the client's garbage).
    const order = [...servers.entries()];
    if (i % 2 === 1) order.reverse();
    for (const [k, server] of order) {
      const before = await cpuSeconds(server.pid);
      const { mbps } = await pull(server.url, basename);
      const run = runs[k];
      if (!run) continue;
      run.cpu += (await cpuSeconds(server.pid)) - before;
      run.mbps.push(mbps);
    }
  }
  return runs.map(({ mbps, cpu }) => ({ mbps: [...mbps].sort((x, y) => x - y)[Math.floor(mbps.length / 2)] ?? 0, cpuMs: (cpu / RUNS) * 1000 }));
}

/** Median MB/s of `RUNS` downloads. */
async function median(base: string, basename: string): Promise<{ mbps: number; bytes: number }> {
  const results = [];
  for (let i = 0; i < RUNS; i++) results.push(await pull(base, basename));
  results.sort((x, y) => x.mbps - y.mbps);
  const middle = results[Math.floor(results.length / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}

const work = await mkdtemp(join(process.env.BENCH_WORK_DIR ?? tmpdir(), 'nb-bench-grpc-'));
const cleanup: Array<() => Promise<void>> = [];
try {
  if (CPU_PROF_DIR !== null) await mkdir(CPU_PROF_DIR, { recursive: true });
  process.stderr.write(`populating A (${LARGE_MIB} MiB file, ${SMALL_FILES} small files)...\n`);
  await populate(join(work, 'a'));
  const grpcPort = nextPort++;
  const a = await serve(join(work, 'a'), ['--grpc-listen', `127.0.0.1:${grpcPort}`]);
  cleanup.push(() => a.stop());
  // Warm-up, not timed: the first request of a process compiles its code paths.
  for (const path of PATHS) await pull(a.url, path.basename);

  const rows: string[] = [];
  const row = (what: string, label: string, rtt: number, mbps: number, reference: number, cpu = ' | ') =>
    rows.push(`| ${what} | ${label} | ${rtt} | ${reference.toFixed(0)} | ${mbps.toFixed(1)} | ${(mbps / reference).toFixed(2)} | ${cpu} |`);
  for (const rtt of RTTS_MS) {
    let proxy: DelayProxy | null = null;
    if (rtt > 0) {
      proxy = await startDelayProxy({ host: '127.0.0.1', port: grpcPort }, rtt);
      cleanup.push(() => proxy?.close() ?? Promise.resolve());
    }
    const grpc = `grpc+http://127.0.0.1:${proxy?.port ?? grpcPort}`;
    const b = await serve(join(work, `b-${rtt}`), ['--blob-service-addr', grpc, '--directory-service-addr', grpc, '--path-info-service-addr', grpc]);
    const compositionFile = join(work, `composition-${rtt}.toml`);
    await writeFile(compositionFile, ['blobs', 'directories', 'path_infos'].map((s) => `[${s}]\nfar = "${grpc}"\n`).join(''));
    const tiered = await serve(join(work, `b-near-${rtt}`), ['--composition', compositionFile]);
    await pull(b.url, PATHS[1]?.basename ?? '');
    for (const path of PATHS) {
      // Measured beside B, so both see the same moment of a shared machine's load.
      const direct = await median(a.url, path.basename);
      const reference = direct.mbps;
      const cpuBefore = [await cpuSeconds(b.pid), await cpuSeconds(a.pid)];
      const viaB = await median(b.url, path.basename);
      const cpu = [await cpuSeconds(b.pid), await cpuSeconds(a.pid)].map((after, i) => (((after - (cpuBefore[i] ?? 0)) / RUNS) * 1000).toFixed(0));
      if (viaB.bytes !== direct.bytes) throw new Error(`B served ${viaB.bytes} bytes, A ${direct.bytes}`);
      row('through B', path.label, rtt, viaB.mbps, reference, cpu.join(' | '));
      process.stderr.write(`${rows.at(-1)}\n`);
      const first = await pull(tiered.url, path.basename);
      row('B near cache, first pull', path.label, rtt, first.mbps, reference);
      // Untimed, as A's warm-up: the first pull served from near runs code the fill did not (measured with curl long
      // after the fill, near and A cost the same CPU per pull; timed at once, near had looked 15-25 % dearer).
      await pull(tiered.url, path.basename);
      // Turn about with A direct, CPU per pull beside: the near cache's target is a ratio to A at the same moment.
      const [fromA, repeated] = await turnAbout([a, tiered], path.basename);
      const cpuOf = (run: { cpuMs: number } | undefined) => (run?.cpuMs ?? 0).toFixed(0);
      row('B near cache, repeated (turn about with A)', path.label, rtt, repeated?.mbps ?? 0, fromA?.mbps ?? 0, `${cpuOf(repeated)} | ${cpuOf(fromA)}`);
      process.stderr.write(`${rows.slice(-2).join('\n')}\n`);
    }
    await b.stop();
    await tiered.stop();
  }
  console.log(`\nruns per cell: ${RUNS} (median); RTT is added between B and A only; direct = from A over loopback, measured next to each B row`);
  console.log('| what | path | RTT ms | direct from A MB/s | MB/s | ratio | B CPU ms/pull | A CPU ms/pull |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const line of rows) console.log(line);
} finally {
  for (const stop of cleanup.reverse()) await stop().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
