// `nix copy --to` wall time into a fresh nar-bridge against `nix copy --to file://` (compression none and zstd), and
// nar-bridge's peak RSS while Nix pushes the big fixture.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { removeTree } from '../../test/e2e/harness.js';
import { MB, type BenchContext } from '../context.js';
import { nixCopyTo } from '../nix.js';
import type { Metric, Side } from '../report.js';
import { peakRssBytes, resetPeakRss, startFreshBridges, type BenchServer } from '../servers.js';

const COMPRESSIONS = ['none', 'zstd'] as const;
/** Issue #4: with compression none, `nix copy --to` ≤ 1.5× `nix copy --to file://`. */
const COPY_TO_NONE_TARGET = 1.5;
/** Issue #4: peak RSS under 200 MB while ingesting the 1 GiB NAR. */
const RSS_LIMIT_MB = 200;

export async function measureCopyTo(ctx: BenchContext): Promise<void> {
  const bridges = await startFreshBridges(ctx.workDir, COMPRESSIONS.length * ctx.options.reps, ctx.options.workers);
  for (const compression of COMPRESSIONS) {
    for (let rep = 0; rep < ctx.options.reps; rep++) {
      const sides: Side[] = rep % 2 === 0 ? ['bridge', 'reference'] : ['reference', 'bridge'];
      for (const side of sides) {
        if (side === 'bridge') await pushToBridge(ctx, compression, bridges.pop());
        else await pushToFreshFileCache(ctx, compression);
      }
    }
  }
}

function copyToMetric(fixtureName: string, compression: string): Metric {
  return {
    group: 'copy-to',
    name: `nix copy --to (${compression}): ${fixtureName}`,
    unit: 's',
    reference: 'nix copy --to file://',
    ...(compression === 'none' ? { target: { on: 'ratio', atMost: COPY_TO_NONE_TARGET } } : {}),
  };
}

/** Fixtures one by one into a bridge with an empty data dir, each push timed on its own. */
async function pushToBridge(ctx: BenchContext, compression: string, bridge: BenchServer | undefined): Promise<void> {
  if (bridge === undefined) throw new Error('ran out of fresh nar-bridge servers');
  try {
    for (const fx of ctx.fixtures.fixtures) {
      const rss: Metric = {
        group: 'copy-to',
        name: `peak RSS ingesting ${fx.name} (${compression})`,
        unit: 'MB',
        reference: '–',
        target: { on: 'bridge', atMost: RSS_LIMIT_MB },
      };
      const measureRss = fx.name === 'big';
      if (measureRss) await resetPeakRss(bridge);
      const seconds = await nixCopyTo(ctx.fixtures.store, `${bridge.url}?compression=${compression}`, fx.closure, ctx.env);
      ctx.results.add(copyToMetric(fx.name, compression), 'bridge', seconds);
      if (measureRss) ctx.results.add(rss, 'bridge', (await peakRssBytes(bridge)) / MB);
    }
  } finally {
    await bridge.stop();
  }
}

async function pushToFreshFileCache(ctx: BenchContext, compression: string): Promise<void> {
  const dir = await mkdtemp(path.join(ctx.workDir, 'push-file-'));
  try {
    for (const fx of ctx.fixtures.fixtures) {
      const seconds = await nixCopyTo(ctx.fixtures.store, `file://${dir}?compression=${compression}`, fx.closure, ctx.env);
      ctx.results.add(copyToMetric(fx.name, compression), 'reference', seconds);
    }
  } finally {
    await removeTree(dir);
  }
}
