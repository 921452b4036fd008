// narinfo requests per second, hits and misses, nar-bridge against nginx, with wrk (-t2 -c32, as in issue #4).
import { hashPart, runCommand } from '../../test/e2e/harness.js';
import { alternate, fixture, type BenchContext } from '../context.js';
import type { Metric } from '../report.js';
import { cpuSeconds } from '../servers.js';

/** Issue #13: narinfo ≥ 0.6× nginx req/s, for hits and for 404s (issue #4 asked 0.5×). */
const NARINFO_TARGET = 0.6;
/** Issue #13: p99 latency at -c32 at most twice nginx's. */
const P99_TARGET = 2;
const WRK_THREADS = 2;
const WRK_CONNECTIONS = 32;
/** A valid nixbase32 hash part that no fixture has, so both servers answer 404 by lookup, not by a syntax check. */
const ABSENT_HASH = '0'.repeat(32);

export async function measureNarinfo(ctx: BenchContext): Promise<void> {
  const top = fixture(ctx, 'closure').storePath;
  const cases = [
    { name: 'narinfo hit', path: `/${hashPart(top)}.narinfo`, status: 200 },
    { name: 'narinfo 404', path: `/${ABSENT_HASH}.narinfo`, status: 404 },
  ];
  for (const c of cases) {
    const metric: Metric = { group: 'narinfo', name: c.name, unit: 'req/s', reference: 'nginx', target: { on: 'ratio', atLeast: NARINFO_TARGET } };
    const p99: Metric = { group: 'narinfo', name: `${c.name} p99`, unit: 'ms', reference: 'nginx', target: { on: 'ratio', atMost: P99_TARGET } };
    const cpu: Metric = { group: 'narinfo', name: `${c.name} CPU per request`, unit: 'µs', reference: 'nginx' };
    for (let rep = 0; rep < ctx.options.reps; rep++) {
      for (const [side, server] of alternate(ctx, rep)) {
        const url = `${server.url}${c.path}`;
        const probe = await fetch(url);
        await probe.arrayBuffer();
        if (probe.status !== c.status) throw new Error(`GET ${url} answered ${probe.status}, expected ${c.status}`);
        const cpuBefore = await cpuSeconds(server);
        const run = await wrk(url, ctx.options.wrkSeconds, c.status !== 200);
        ctx.results.add(cpu, side, (((await cpuSeconds(server)) - cpuBefore) / run.requests) * 1e6);
        ctx.results.add(metric, side, run.perSecond);
        ctx.results.add(p99, side, run.p99Ms);
      }
    }
  }
}

interface WrkRun {
  readonly perSecond: number;
  readonly requests: number;
  readonly p99Ms: number;
}

const LATENCY_UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

async function wrk(url: string, seconds: number, expectErrors: boolean): Promise<WrkRun> {
  const args = [`-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--latency', url];
  const { stdout } = await runCommand('wrk', args, process.env, { timeoutMs: (seconds + 30) * 1000 });
  const rate = /^Requests\/sec:\s+([\d.]+)$/m.exec(stdout)?.[1];
  if (rate === undefined) throw new Error(`no Requests/sec in wrk output:\n${stdout}`);
  // wrk counts 404s as "Non-2xx" but still as requests; socket errors on a hit would mean the rate is not all answers.
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (!expectErrors && non2xx !== null) throw new Error(`wrk saw ${non2xx[1]} non-2xx answers from ${url}:\n${stdout}`);
  if (/Socket errors:/.test(stdout)) throw new Error(`wrk saw socket errors against ${url}:\n${stdout}`);
  const requests = /^\s*(\d+) requests in/m.exec(stdout)?.[1];
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)$/m.exec(stdout);
  if (requests === undefined || !p99?.[1] || !p99[2]) throw new Error(`no request count or 99% latency in wrk output:\n${stdout}`);
  return { perSecond: Number(rate), requests: Number(requests), p99Ms: Number(p99[1]) * (LATENCY_UNIT_MS[p99[2]] ?? Number.NaN) };
}
