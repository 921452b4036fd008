// Ingest speed: the NAR files of the nginx cache PUT straight into a fresh nar-bridge (parse, hash, store blobs and
// Directories), against Nix unpacking the same NAR into tmpfs with `nix-store --restore`.
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { hashPart, parseNarInfo, removeTree, runCommand } from '../../test/e2e/harness.js';
import { fixture, MB, type BenchContext } from '../context.js';
import { upload } from '../curl.js';
import type { Fixture, FixtureName } from '../fixtures.js';
import { timeSeconds } from '../nix.js';
import type { Metric } from '../report.js';
import { cpuSeconds, peakRssBytes, resetPeakRss, startFreshBridges } from '../servers.js';

const FIXTURES: readonly FixtureName[] = ['big', 'small-files', 'library'];
/** Issue #4: peak RSS under 200 MB while ingesting the 1 GiB NAR. */
const RSS_LIMIT_MB = 200;
const UPLOAD_CAP_SECONDS = 600;
const GiB = 1024 * 1024 * 1024;

export async function measureIngest(ctx: BenchContext): Promise<void> {
  const nars = await Promise.all(FIXTURES.map(async (name) => ({ fx: fixture(ctx, name), ...(await narFileOf(ctx, fixture(ctx, name))) })));
  for (const bridge of await startFreshBridges(ctx.workDir, ctx.options.reps, ctx.options.workers)) {
    try {
      for (const { fx, file, url } of nars) {
        const metric: Metric = { group: 'ingest', name: `ingest ${fx.name} (PUT)`, unit: 'MB/s', reference: 'nix-store --restore' };
        await resetPeakRss(bridge);
        const cpuBefore = await Promise.all([cpuSeconds(bridge), cpuSeconds(bridge, true)]);
        const t = await upload(file, `${bridge.url}/${url}`, UPLOAD_CAP_SECONDS);
        if (t.status < 200 || t.status > 299 || t.cutOff) throw new Error(`PUT ${url} answered ${t.status}${t.cutOff ? ' (cut off)' : ''}`);
        ctx.results.add(metric, 'bridge', fx.narSize / MB / t.seconds);
        // On a shared machine the wall clock is noisy; CPU time per GiB is not, and the main thread's bounds the speed.
        const cpu: Metric = { group: 'ingest', name: `CPU per GiB ingesting ${fx.name}: all threads vs main`, unit: 's/GiB', reference: 'main thread' };
        const cpuAfter = await Promise.all([cpuSeconds(bridge), cpuSeconds(bridge, true)]);
        ctx.results.add(cpu, 'bridge', (cpuAfter[0] - cpuBefore[0]) / (fx.narSize / GiB));
        ctx.results.add(cpu, 'reference', (cpuAfter[1] - cpuBefore[1]) / (fx.narSize / GiB));
        if (fx.name === 'big') {
          const rss: Metric = {
            group: 'ingest',
            name: 'peak RSS ingesting big (PUT)',
            unit: 'MB',
            reference: '–',
            target: { on: 'bridge', atMost: RSS_LIMIT_MB },
          };
          ctx.results.add(rss, 'bridge', (await peakRssBytes(bridge)) / MB);
        }
        ctx.results.add(metric, 'reference', await restoreMBps(ctx, fx, file));
      }
    } finally {
      await bridge.stop();
    }
  }
}

/** The uncompressed NAR file Nix wrote for `fx` into the nginx cache, and its URL relative to the cache root. */
async function narFileOf(ctx: BenchContext, fx: Fixture): Promise<{ file: string; url: string }> {
  const narinfo = parseNarInfo(await readFile(path.join(ctx.cacheDir, `${hashPart(fx.storePath)}.narinfo`), 'utf8'));
  const url = narinfo.get('URL')?.[0];
  if (url === undefined || narinfo.get('Compression')?.[0] !== 'none') throw new Error(`cache narinfo of ${fx.storePath} is not an uncompressed NAR`);
  return { file: path.join(ctx.cacheDir, url), url };
}

async function restoreMBps(ctx: BenchContext, fx: Fixture, narFile: string): Promise<number> {
  const target = path.join(await mkdtemp(path.join(ctx.workDir, 'restore-')), 'out');
  try {
    const seconds = await timeSeconds(() =>
      runCommand('bash', ['-c', 'nix-store --restore "$1" < "$2"', 'bash', target, narFile], ctx.env.env, { timeoutMs: 600_000 }),
    );
    return fx.narSize / MB / seconds;
  } finally {
    await removeTree(path.dirname(target));
  }
}
