// Benchmark command line → validated options: fixture sizes, repetitions and which measurement groups to run.
import { parseArgs } from 'node:util';
import path from 'node:path';

export const GROUPS = ['reference', 'narinfo', 'download', 'copy-from', 'copy-to', 'ingest'] as const;
export type Group = (typeof GROUPS)[number];

export interface FixtureSizes {
  /** The single incompressible file, in MiB (the "~1 GiB"). */
  readonly bigMiB: number;
  /** Small files of 1–16 KiB, spread over `smallDirs` directories. */
  readonly smallFiles: number;
  readonly smallDirs: number;
  /** Store paths in the closure fixture (a chain of derivations on top of one builtins.toFile). */
  readonly closurePaths: number;
  /** A real library tree to copy into the store; null picks the first present of a few Debian ones. */
  readonly libraryDir: string | null;
}

export interface BenchOptions {
  readonly smoke: boolean;
  readonly groups: readonly Group[];
  /** Repetitions per measurement; the report shows medians. */
  readonly reps: number;
  readonly sizes: FixtureSizes;
  /** wrk run length per narinfo measurement. */
  readonly wrkSeconds: number;
  /** A download stream still running after this long is cut off; its bytes so far still count. */
  readonly downloadCapSeconds: number;
  /** Where the JSON report goes (bench/results by default). */
  readonly outDir: string;
  /** Parent of the benchmark's working directory: stores and caches must be on tmpfs (issue #4 notes). */
  readonly workParent: string;
  /** Write a V8 CPU profile of every nar-bridge process into this directory. */
  readonly cpuProfDir: string | null;
  /** nar-bridge's --workers and nginx's worker_processes: both servers get the same number of processes. */
  readonly workers: number;
}

export const USAGE = `usage: npm run bench -- [--smoke] [--only GROUP[,GROUP]] [--reps N] [--big-mib N] [--small-files N]
                       [--library DIR] [--out DIR] [--work-dir DIR] [--cpu-prof DIR] [--workers N]

  --smoke        tiny fixtures, one repetition, short runs (what CI runs; numbers are meaningless)
  --only         run only these groups: ${GROUPS.join(', ')}
  --reps         repetitions per measurement (default 3; medians are reported)
  --big-mib      size of the incompressible single-file fixture (default 1024)
  --small-files  number of small files, 20 per directory (default 20000)
  --library DIR  real tree to copy into the store (default /usr/share/perl or another Debian library tree)
  --out          directory for the JSON report (default bench/results)
  --work-dir     tmpfs directory for stores and caches (default /dev/shm)
  --cpu-prof     write nar-bridge CPU profiles (node --cpu-prof) into DIR
  --workers      processes per server: nar-bridge --workers N, nginx worker_processes N (default 1)
`;

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
/** 20 files per directory gives the issue's ~1,000 directories for 20,000 files. */
const FILES_PER_DIR = 20;

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      reps: { type: 'string' },
      'big-mib': { type: 'string' },
      'small-files': { type: 'string' },
      library: { type: 'string' },
      out: { type: 'string' },
      'work-dir': { type: 'string' },
      'cpu-prof': { type: 'string' },
      workers: { type: 'string' },
    },
  });
  const smoke = values.smoke ?? false;
  const smallFiles = positiveInt('--small-files', values['small-files'], smoke ? 200 : 20_000);
  return {
    smoke,
    groups: parseGroups(values.only),
    reps: positiveInt('--reps', values.reps, smoke ? 1 : 3),
    sizes: {
      bigMiB: positiveInt('--big-mib', values['big-mib'], smoke ? 4 : 1024),
      smallFiles,
      smallDirs: Math.max(1, Math.ceil(smallFiles / FILES_PER_DIR)),
      closurePaths: 10,
      // The smoke run copies this repository's own src/ (small, always there) instead of a 20 MB library.
      libraryDir: values.library === undefined ? (smoke ? path.join(REPO_ROOT, 'src') : null) : path.resolve(values.library),
    },
    wrkSeconds: smoke ? 1 : 4,
    downloadCapSeconds: smoke ? 2 : 20,
    outDir: path.resolve(values.out ?? path.join(REPO_ROOT, 'bench', 'results')),
    workParent: path.resolve(values['work-dir'] ?? '/dev/shm'),
    cpuProfDir: values['cpu-prof'] === undefined ? null : path.resolve(values['cpu-prof']),
    workers: positiveInt('--workers', values.workers, 1),
  };
}

function parseGroups(raw: string | undefined): readonly Group[] {
  if (raw === undefined) return GROUPS;
  const picked = raw.split(',').map((s) => s.trim());
  for (const g of picked) {
    if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
  }
  return GROUPS.filter((g) => picked.includes(g));
}

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
  return n;
}
