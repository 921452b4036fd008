// NAR download throughput with 1, 4 and 16 concurrent streams, nar-bridge against nginx, plus the peak RSS of each
// server while 16 streams pull the big NAR, and `nix-store --dump | cat` as the "how fast can a NAR be made" line.
import path from 'node:path';
import { runCommand } from '../../test/e2e/harness.js';
import { alternate, fixture, MB, type BenchContext } from '../context.js';
import { download } from '../curl.js';
import type { Fixture, FixtureName } from '../fixtures.js';
import { narUrlOf, timeSeconds } from '../nix.js';
import type { Metric } from '../report.js';
import { cpuSeconds, peakRssBytes, resetPeakRss } from '../servers.js';

const FIXTURES: readonly FixtureName[] = ['big', 'small-files', 'library'];
const STREAMS = [1, 4, 16] as const;
/** Issue #4 targets: one stream ≥ 0.8× nginx for the big file and the library; 16 streams ≥ 0.8× nginx. */
const ONE_STREAM_TARGET: Partial<Record<FixtureName, number>> = { big: 0.8, library: 0.8 };
const MANY_STREAMS_TARGET = 0.8;
/** Long enough to get the render path compiled, short enough not to matter when a server is slow. */
const WARM_UP_SECONDS = 2;
/** Issue #4: peak RSS under 200 MB while serving the 1 GiB NAR. */
const RSS_LIMIT_MB = 200;
/** Issue #13: 16 streams of small files together at least this much faster than one, on the same server. */
const SMALL_FILES_SCALING_TARGET = 1.5;
const GiB = 1024 ** 3;

export async function measureDownloads(ctx: BenchContext): Promise<void> {
  for (const name of FIXTURES) {
    const fx = fixture(ctx, name);
    const urls = { bridge: await narUrlOf(ctx.bridge.url, fx.storePath), reference: await narUrlOf(ctx.nginx.url, fx.storePath) };
    // Untimed: the first request of a kind pays for JIT compilation (nar-bridge) and cold page-cache reads (nginx).
    for (const url of Object.values(urls)) await download(url, WARM_UP_SECONDS);
    for (const streams of STREAMS) {
      const metric: Metric = {
        group: 'download',
        name: `download ${name} ×${streams}`,
        unit: 'MB/s',
        reference: 'nginx',
        ...targetFor(name, streams),
      };
      const versusDump: Metric = {
        group: 'download',
        name: `download ${name} ×1 vs dump`,
        unit: 'MB/s',
        reference: 'nix-store --dump | cat',
        ...(name === 'small-files' ? { target: { on: 'ratio', atLeast: 1.0 } } : {}),
      };
      const rss: Metric = {
        group: 'download',
        name: `peak RSS serving ${name} ×${streams}`,
        unit: 'MB',
        reference: 'nginx worker',
        target: { on: 'bridge', atMost: RSS_LIMIT_MB },
      };
      const cpu: Metric = { group: 'download', name: `CPU per GiB ${name} ×${streams}`, unit: 's/GiB', reference: 'nginx' };
      const scaling: Metric = {
        group: 'download',
        name: `nar-bridge ${name} ×16 vs ×1`,
        unit: 'MB/s',
        reference: 'nar-bridge ×1',
        ...(name === 'small-files' ? { target: { on: 'ratio', atLeast: SMALL_FILES_SCALING_TARGET } } : {}),
      };
      const measureRss = name === 'big' && streams === 16;
      for (let rep = 0; rep < ctx.options.reps; rep++) {
        for (const [side, server] of alternate(ctx, rep)) {
          if (measureRss) await resetPeakRss(server);
          const cpuBefore = await cpuSeconds(server);
          const { mbps, bytes } = await aggregateMBps(urls[side], streams, fx, ctx.options.downloadCapSeconds);
          ctx.results.add(cpu, side, ((await cpuSeconds(server)) - cpuBefore) / (bytes / GiB));
          ctx.results.add(metric, side, mbps);
          if (streams === 1 && side === 'bridge') ctx.results.add(versusDump, 'bridge', mbps);
          if (side === 'bridge' && (streams === 1 || streams === 16)) ctx.results.add(scaling, streams === 16 ? 'bridge' : 'reference', mbps);
          if (measureRss) ctx.results.add(rss, side, (await peakRssBytes(server)) / MB);
        }
        if (streams === 1) ctx.results.add(versusDump, 'reference', await dumpMBps(ctx, fx));
      }
    }
  }
}

function targetFor(name: FixtureName, streams: number): Pick<Metric, 'target'> {
  if (streams === 16) return { target: { on: 'ratio', atLeast: MANY_STREAMS_TARGET } };
  const one = ONE_STREAM_TARGET[name];
  return streams === 1 && one !== undefined ? { target: { on: 'ratio', atLeast: one } } : {};
}

/** `streams` concurrent GETs of one NAR; total bytes over the wall time of the slowest. */
async function aggregateMBps(url: string, streams: number, fx: Fixture, capSeconds: number): Promise<{ mbps: number; bytes: number }> {
  const transfers = await Promise.all(Array.from({ length: streams }, () => download(url, capSeconds)));
  let bytes = 0;
  let seconds = 0;
  for (const t of transfers) {
    if (t.status !== 200) throw new Error(`GET ${url} answered ${t.status}`);
    if (!t.cutOff && t.bytes !== fx.narSize) throw new Error(`GET ${url} sent ${t.bytes} bytes, NarSize is ${fx.narSize}`);
    bytes += t.bytes;
    seconds = Math.max(seconds, t.seconds);
  }
  return { mbps: bytes / MB / seconds, bytes };
}

/** Nix's own NAR serialiser reading the same files from tmpfs: the speed a NAR can be produced at, without HTTP. */
async function dumpMBps(ctx: BenchContext, fx: Fixture): Promise<number> {
  const onDisk = path.join(ctx.fixtures.store, fx.storePath);
  const seconds = await timeSeconds(() =>
    runCommand('bash', ['-c', 'set -o pipefail; nix-store --dump "$1" | cat > /dev/null', 'bash', onDisk], ctx.env.env, { timeoutMs: 600_000 }),
  );
  return fx.narSize / MB / seconds;
}
