// Benchmark results: samples per metric for nar-bridge and its reference, reduced to medians and ratios, printed as
// a table and written as JSON. Only ratios from one run count: the machine is shared and noisy (issue #4 notes).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Group } from './options.js';

export type Side = 'bridge' | 'reference';
export type Unit = 'MB/s' | 'req/s' | 's' | 'MB' | 'ms' | 'µs' | 's/GiB';

/** A goal from issue #4: on the ratio bridge/reference, or on nar-bridge's own value (peak RSS). */
export interface Target {
  readonly on: 'ratio' | 'bridge';
  readonly atLeast?: number;
  readonly atMost?: number;
}

export interface Metric {
  readonly group: Group;
  /** Unique within a run, e.g. "download big ×16". */
  readonly name: string;
  readonly unit: Unit;
  /** What the reference column is (nginx, `nix copy --to file://`, `nix-store --dump | cat`, …). */
  readonly reference: string;
  readonly target?: Target;
}

export interface Row extends Metric {
  readonly bridge: readonly number[];
  readonly referenceSamples: readonly number[];
  readonly bridgeMedian: number | null;
  readonly referenceMedian: number | null;
  readonly ratio: number | null;
  /** null when the metric has no target or a side has no samples. */
  readonly targetMet: boolean | null;
}

export class Results {
  private readonly metrics = new Map<string, { metric: Metric; bridge: number[]; reference: number[] }>();

  add(metric: Metric, side: Side, value: number): void {
    if (!Number.isFinite(value)) throw new Error(`${metric.name}: non-finite ${side} sample ${value}`);
    let entry = this.metrics.get(metric.name);
    if (entry === undefined) {
      entry = { metric, bridge: [], reference: [] };
      this.metrics.set(metric.name, entry);
    }
    entry[side].push(value);
  }

  rows(): Row[] {
    return [...this.metrics.values()].map(({ metric, bridge, reference }) => {
      const bridgeMedian = median(bridge);
      const referenceMedian = median(reference);
      const ratio = bridgeMedian !== null && referenceMedian !== null && referenceMedian > 0 ? bridgeMedian / referenceMedian : null;
      return { ...metric, bridge, referenceSamples: reference, bridgeMedian, referenceMedian, ratio, targetMet: targetMet(metric.target, bridgeMedian, ratio) };
    });
  }
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function targetMet(target: Target | undefined, bridgeMedian: number | null, ratio: number | null): boolean | null {
  if (target === undefined) return null;
  const v = target.on === 'ratio' ? ratio : bridgeMedian;
  if (v === null) return null;
  return (target.atLeast === undefined || v >= target.atLeast) && (target.atMost === undefined || v <= target.atMost);
}

function formatTarget(t: Target | undefined): string {
  if (t === undefined) return '';
  const what = t.on === 'ratio' ? 'ratio' : 'bridge';
  const bounds = [t.atLeast === undefined ? '' : `≥ ${t.atLeast}`, t.atMost === undefined ? '' : `≤ ${t.atMost}`].filter(Boolean);
  return `${what} ${bounds.join(' ')}`;
}

function formatNumber(v: number | null): string {
  if (v === null) return '–';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** The table as fixed-width text: one row per metric, medians and the ratio bridge/reference. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['group', 'metric', 'unit', 'nar-bridge', 'reference', 'ratio', 'reference is', 'target', 'met'];
  const body = rows.map((r) => [
    r.group,
    r.name,
    r.unit,
    formatNumber(r.bridgeMedian),
    formatNumber(r.referenceMedian),
    r.ratio === null ? '–' : r.ratio.toFixed(2),
    r.reference,
    formatTarget(r.target),
    r.targetMet === null ? '' : r.targetMet ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const numeric = new Set([3, 4, 5]);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Writes the report to `<outDir>/<timestamp>.json` and returns the file's path. */
export async function writeReport(outDir: string, report: Record<string, unknown> & { rows: readonly Row[] }, startedAt: Date): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
