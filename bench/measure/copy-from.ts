// `nix copy --from` wall time for every fixture into a fresh tmpfs store, nar-bridge against nginx.
import { alternate, type BenchContext } from '../context.js';
import { nixCopyFrom } from '../nix.js';
import type { Metric } from '../report.js';

/** Issue #4: `nix copy --from` ≤ 1.1× the nginx wall time, for every fixture. */
const COPY_FROM_TARGET = 1.1;

export async function measureCopyFrom(ctx: BenchContext): Promise<void> {
  for (const fx of ctx.fixtures.fixtures) {
    const metric: Metric = {
      group: 'copy-from',
      name: `nix copy --from: ${fx.name}`,
      unit: 's',
      reference: 'nginx',
      target: { on: 'ratio', atMost: COPY_FROM_TARGET },
    };
    for (let rep = 0; rep < ctx.options.reps; rep++) {
      for (const [side, server] of alternate(ctx, rep)) {
        ctx.results.add(metric, side, await nixCopyFrom(server.url, fx.storePath));
      }
    }
  }
}
