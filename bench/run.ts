// `npm run bench`: makes the fixtures, publishes them to nar-bridge and to an nginx-served file:// cache, runs the
// measurement groups with both servers alternating, prints the table and writes the JSON report.
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cleanupE2E, nixEnv, removeTree, runCommand } from '../test/e2e/harness.js';
import type { BenchContext } from './context.js';
import { makeFixtures } from './fixtures.js';
import { measureCopyFrom } from './measure/copy-from.js';
import { measureCopyTo } from './measure/copy-to.js';
import { measureDownloads } from './measure/download.js';
import { measureHashing } from './measure/hashing.js';
import { measureIngest } from './measure/ingest.js';
import { measureNarinfo } from './measure/narinfo.js';
import { nixCopyTo, timeSeconds } from './nix.js';
import { parseBenchOptions, USAGE, type BenchOptions, type Group } from './options.js';
import { formatTable, Results, writeReport } from './report.js';
import { CPU_PROF_DIR_ENV, startBridge, startNginx, type BenchServer } from './servers.js';

const MEASURE: Record<Group, (ctx: BenchContext) => Promise<void>> = {
  reference: measureHashing,
  narinfo: measureNarinfo,
  download: measureDownloads,
  'copy-from': measureCopyFrom,
  'copy-to': measureCopyTo,
  ingest: measureIngest,
};

async function run(options: BenchOptions): Promise<void> {
  const startedAt = new Date();
  const workDir = await mkdtemp(path.join(options.workParent, 'nar-bridge-bench-'));
  // The harness puts its temp dirs (Nix homes, chroot stores) under os.tmpdir(): point that at tmpfs too.
  process.env.TMPDIR = workDir;
  if (options.cpuProfDir !== null) {
    await mkdir(options.cpuProfDir, { recursive: true });
    process.env[CPU_PROF_DIR_ENV] = options.cpuProfDir;
  }
  const servers: BenchServer[] = [];
  try {
    const env = await nixEnv();
    const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s] ${msg}\n`);
    log(`fixtures in ${workDir}`);
    if (!options.smoke) {
      // What is measured is the compiled build users run: bin/nar-bridge.js falls back to tsx when dist/ is older than
      // src/ (an edited checkout), and tsx's loader costs tens of MB of RSS and CPU of its own. (A smoke run, inside the
      // test suite, leaves dist/ alone: servers of other tests may be loading it.)
      log('building dist/');
      await runCommand('npm', ['run', '--silent', 'build'], process.env, { timeoutMs: 300_000 });
    }
    // nar-bridge starts while the fixtures are made: its start is seconds of mostly waiting, and nothing is timed yet.
    const [fixtures, bridge] = await Promise.all([
      makeFixtures(options.sizes, env, workDir),
      startBridge(path.join(workDir, 'bridge-data'), options.workers).then((b) => {
        servers.push(b);
        return b;
      }),
    ]);
    for (const f of fixtures.fixtures) log(`  ${f.name}: ${f.storePath} (${f.closure.length} paths, ${f.closureNarSize} NAR bytes)`);
    const allPaths = fixtures.fixtures.flatMap((f) => f.closure);

    const cacheDir = path.join(workDir, 'file-cache');
    const fileSeconds = await nixCopyTo(fixtures.store, `file://${cacheDir}?compression=none`, allPaths, env);
    const nginx = await startNginx(cacheDir, workDir, options.workers);
    servers.push(nginx);
    const bridgeSeconds = await nixCopyTo(fixtures.store, `${bridge.url}?compression=none`, allPaths, env);
    log(`published: file:// in ${fileSeconds.toFixed(1)} s, nar-bridge in ${bridgeSeconds.toFixed(1)} s; nginx ${nginx.url}, nar-bridge ${bridge.url}`);

    const results = new Results();
    const ctx: BenchContext = { options, fixtures, env, workDir, bridge, nginx, cacheDir, results };
    for (const group of options.groups) {
      const seconds = await timeSeconds(() => MEASURE[group](ctx));
      log(`${group} done in ${seconds.toFixed(0)} s`);
    }

    const rows = results.rows();
    process.stdout.write(`\n${formatTable(rows)}\n\n`);
    const report = {
      startedAt: startedAt.toISOString(),
      durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
      machine: await describeMachine(),
      options,
      fixtures: fixtures.fixtures,
      rows,
    };
    log(`report: ${await writeReport(options.outDir, report, startedAt)}`);
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await cleanupE2E();
    await removeTree(workDir);
  }
}

async function describeMachine(): Promise<Record<string, string | number>> {
  const version = async (cmd: string, args: string[]) => {
    const r = await runCommand(cmd, args, process.env, { expect: 'any' });
    return (r.stdout + r.stderr).trim().split('\n')[0] ?? '';
  };
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    memoryBytes: os.totalmem(),
    node: process.version,
    nix: await version('nix', ['--version']),
    nginx: await version('nginx', ['-v']),
    wrk: await version('wrk', ['--version']),
    curl: await version('curl', ['--version']),
  };
}

let options: BenchOptions;
try {
  options = parseBenchOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
await run(options);
