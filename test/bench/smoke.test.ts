// The benchmark's smoke mode, run as `npm run bench -- --smoke` would: tiny fixtures, one repetition, real Nix,
// nginx and nar-bridge. Checks that every group runs and reports numbers, not how fast anything is.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupE2E, makeTempDir, REPO_ROOT, runCommand } from '../e2e/harness.js';
import { GROUPS } from '../../bench/options.js';
import type { Row } from '../../bench/report.js';

/** The smoke run takes ~30 s alone; the rest of the suite runs beside it on two cores. */
const SMOKE_TIMEOUT_MS = 150_000;

afterEach(cleanupE2E);

describe('bench --smoke', () => {
  it(
    'runs every measurement group and writes a report with both sides of every comparison',
    async () => {
      const out = await makeTempDir('bench-out');
      const res = await runCommand(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'run.ts'), '--smoke', '--out', out], process.env, {
        timeoutMs: SMOKE_TIMEOUT_MS,
      });
      expect(res.stdout).toMatch(/^group\s+metric\s+unit\s+nar-bridge\s+reference\s+ratio/m);

      const files = await readdir(out);
      expect(files).toHaveLength(1);
      const report = JSON.parse(await readFile(path.join(out, files[0] ?? ''), 'utf8')) as { rows: Row[] };
      expect(new Set(report.rows.map((r) => r.group))).toEqual(new Set(GROUPS));
      for (const row of report.rows) {
        const sides = [row.bridgeMedian, row.referenceMedian].filter((v) => v !== null);
        expect(sides.length, row.name).toBeGreaterThan(0);
        for (const v of sides) expect(v, row.name).toBeGreaterThan(0);
      }
      // Every server-against-server row has both medians, hence a ratio.
      const versusNginx = report.rows.filter((r) => r.reference === 'nginx');
      expect(versusNginx.length).toBeGreaterThan(0);
      for (const row of versusNginx) expect(row.ratio, row.name).not.toBeNull();
    },
    SMOKE_TIMEOUT_MS + 10_000,
  );
});
