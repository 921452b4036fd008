// NAR download throughput through B (services over tvix gRPC to A) against direct from A, for a large-file path
// and a many-small-files path. Usage: npx tsx bench/grpc-throughput.ts [largeMiB=256] [smallFiles=5000]
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLocalStore } from '../src/cli/open-store.js';
import { writeNar, type NarEvent } from '../src/nar/index.js';
import { StorePath } from '../src/nix/index.js';
import { ingestNar } from '../src/store/index.js';

const LARGE_MIB = Number(process.argv[2] ?? 256);
const SMALL_FILES = Number(process.argv[3] ?? 5000);
const SMALL_FILE_BYTES = 4096;
const ENTRY = join(import.meta.dirname, '..', 'bin', 'nar-bridge.js');

/** Incompressible, deterministic bytes (AES-CTR keystream), in 1 MiB pieces. */
async function* pseudoRandom(size: number, seed: number): AsyncGenerator<Uint8Array> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
}

async function* largeFileNar(): AsyncGenerator<NarEvent> {
  const size = LARGE_MIB * 1024 * 1024;
  yield { type: 'file', name: null, executable: false, size, contents: pseudoRandom(size, 1) };
}

/** SMALL_FILES files of 4 KiB, 100 per directory. */
async function* smallFilesNar(): AsyncGenerator<NarEvent> {
  yield { type: 'directory', name: null };
  const dirs = Math.ceil(SMALL_FILES / 100);
  for (let d = 0; d < dirs; d++) {
    yield { type: 'directory', name: Buffer.from(`d${String(d).padStart(5, '0')}`) };
    for (let f = 0; f < 100 && d * 100 + f < SMALL_FILES; f++) {
      const name = Buffer.from(`f${String(f).padStart(3, '0')}`);
      yield { type: 'file', name, executable: false, size: SMALL_FILE_BYTES, contents: pseudoRandom(SMALL_FILE_BYTES, d * 100 + f + 2) };
    }
    yield { type: 'end' };
  }
  yield { type: 'end' };
}

const PATHS = [
  { label: `one ${LARGE_MIB} MiB file`, basename: '00000000000000000000000000000000-bench-large', events: largeFileNar },
  { label: `${SMALL_FILES} files of 4 KiB`, basename: '11111111111111111111111111111111-bench-small', events: smallFilesNar },
];

async function populate(dataDir: string): Promise<void> {
  const local = await openLocalStore(dataDir);
  for (const path of PATHS) {
    const { node, narHash, narSize } = await ingestNar(Readable.from(writeNar(path.events())), local.store);
    const storePath = StorePath.parseBasename(path.basename);
    await local.store.pathInfos.put({ storePath, node, references: [], narHash, narSize, signatures: [] });
  }
  local.close();
}

async function serve(dataDir: string, port: number, extra: readonly string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ENTRY, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', ...extra], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/nix-cache-info`).then((r) => r.ok, () => false)) return child;
    await sleep(100);
  }
  throw new Error(`server on ${port} did not start`);
}

/** GET narinfo, then the NAR it names; returns MB/s over the NAR download (best of `runs`). */
async function measure(base: string, basename: string, runs = 3): Promise<{ mbps: number; bytes: number }> {
  const narinfo = await (await fetch(`${base}/${basename.slice(0, 32)}.narinfo`)).text();
  const url = /^URL: (.*)$/m.exec(narinfo)?.[1];
  if (!url) throw new Error(`no URL in narinfo from ${base}: ${narinfo}`);
  let best = 0;
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const response = await fetch(`${base}/${url}`);
    bytes = 0;
    for await (const chunk of response.body ?? []) bytes += chunk.byteLength;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    best = Math.max(best, bytes / 1e6 / seconds);
  }
  return { mbps: best, bytes };
}

const work = await mkdtemp(join(tmpdir(), 'nb-bench-grpc-'));
const children: ChildProcess[] = [];
try {
  await populate(join(work, 'a'));
  const grpcPort = 19_400 + Math.floor(Math.random() * 500);
  const grpc = `grpc+http://127.0.0.1:${grpcPort}`;
  children.push(await serve(join(work, 'a'), grpcPort + 1, ['--grpc-listen', `127.0.0.1:${grpcPort}`]));
  children.push(await serve(join(work, 'b'), grpcPort + 2, ['--blob-service-addr', grpc, '--directory-service-addr', grpc, '--path-info-service-addr', grpc]));
  console.log('| path | NAR bytes | direct from A (MB/s) | through B over gRPC (MB/s) | ratio |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const path of PATHS) {
    const direct = await measure(`http://127.0.0.1:${grpcPort + 1}`, path.basename);
    const viaB = await measure(`http://127.0.0.1:${grpcPort + 2}`, path.basename);
    if (direct.bytes !== viaB.bytes) throw new Error(`B served ${viaB.bytes} bytes, A ${direct.bytes}`);
    console.log(`| ${path.label} | ${direct.bytes} | ${direct.mbps.toFixed(0)} | ${viaB.mbps.toFixed(0)} | ${(viaB.mbps / direct.mbps).toFixed(2)} |`);
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await rm(work, { recursive: true, force: true });
}
