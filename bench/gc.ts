// `node --import tsx bench/gc.ts [PATHS]`: GC time and peak memory on a store of PATHS store paths (default 20,000),
// built in-process from small generated NARs (a directory of a unique file and a file shared by a group of paths),
// each path referring to a few "library" paths. Applications nothing refers to (60% of all paths)
// are deleted, then `nar-bridge gc` runs in a child process, whose peak RSS is what is reported.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../src/cli/open-store.js';
import { StorePath } from '../src/nix/index.js';
import { deleteStorePaths, ingestNar } from '../src/store/index.js';
import { fileEntry, nar } from '../test/nar/nar-bytes.js';

// `--build DIR PATHS` (internal): builds the store in a process of its own, so that its packs are sealed (their
// writer gone) when the GC opens them, as after a server's exit.
const building = process.argv[2] === '--build';
const PATHS = Number(building ? process.argv[4] : (process.argv[2] ?? 20_000));
const LIBRARIES = Math.floor(PATHS / 4);

function storePath(i: number): StorePath {
  return StorePath.fromParts(createHash('sha256').update(`bench-${i}`).digest().subarray(0, 20), `path-${i}`);
}

async function* once(bytes: Uint8Array) {
  yield bytes;
}

async function packBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(join(dataDir, 'packs'))) total += (await stat(join(dataDir, 'packs', name))).size;
  return total;
}

async function build(dataDir: string): Promise<void> {
  const local = await openLocalStore(dataDir);
  for (let i = 0; i < PATHS; i++) {
    const unique = createHash('sha512')
      .update(`unique ${i}`)
      .digest('hex')
      .repeat(1 + (i % 8));
    const shared = `shared by group ${i % 100}\n`.repeat(50);
    const bytes = nar('nix-archive-1', '(', 'type', 'directory', fileEntry('data', unique), fileEntry('shared', shared), ')');
    const { node, narHash, narSize } = await ingestNar(once(bytes), local.store);
    // Libraries (the first quarter) refer to an earlier library; the rest to two libraries.
    const refs = i < LIBRARIES ? (i > 0 ? [storePath(i - 1 - Math.min(i - 1, i % 5))] : []) : [storePath(i % LIBRARIES), storePath((i * 7) % LIBRARIES)];
    await local.store.pathInfos.put({ storePath: storePath(i), node, narHash, narSize, references: refs, signatures: [] });
  }
  await local.packs?.flush();
  const gc = local.gc;
  if (!gc) throw new Error('embedded store expected');
  // Applications nothing refers to go: most of the packs' bytes become dead, so they are repacked.
  const doomed = Array.from({ length: Math.floor(PATHS * 0.6) }, (_, k) => storePath(PATHS - 1 - k).digest);
  await deleteStorePaths(gc, doomed, false);
  local.close();
}

if (building) {
  await build(process.argv[3] ?? '');
  process.exit(0);
}
const dataDir = await mkdtemp(join(tmpdir(), 'nar-bridge-gc-bench-'));
const built = Date.now();
const builder = spawnSync(process.execPath, ['--import', 'tsx', 'bench/gc.ts', '--build', dataDir, String(PATHS)], { encoding: 'utf8' });
if (builder.status !== 0) throw new Error(`building the store failed: ${builder.stderr}`);
const buildSeconds = (Date.now() - built) / 1000;
const before = await packBytes(dataDir);

// The GC runs in a child process of its own, so its peak RSS (reported by the child itself) is the GC's alone.
const GC_CHILD = `
  const { gcCommand } = await import('./src/cli/gc.ts');
  let out = '';
  await gcCommand(['--json', '--data-dir', process.argv[1]], { env: {}, stdout: (t) => (out += t) });
  console.log(JSON.stringify({ report: JSON.parse(out), peakRssKiB: process.resourceUsage().maxRSS }));`;
const started = Date.now();
const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', GC_CHILD, dataDir], { encoding: 'utf8' });
const gcSeconds = (Date.now() - started) / 1000;
if (child.status !== 0) throw new Error(`gc failed: ${child.stderr}`);
const { report, peakRssKiB } = JSON.parse(child.stdout) as { report: Record<string, unknown>; peakRssKiB: number };
console.log(
  JSON.stringify(
    {
      paths: PATHS,
      buildSeconds,
      deletedPaths: Math.floor(PATHS * 0.6),
      gcSecondsWithStartup: gcSeconds,
      gcPeakRssMiB: Math.round(peakRssKiB / 1024),
      report,
      packBytesBefore: before,
      packBytesAfter: await packBytes(dataDir),
      dataDir,
    },
    null,
    2,
  ),
);
await rm(dataDir, { recursive: true, force: true });
