// narinfo req/s with metadata in PostgreSQL against the embedded store (issue #15: at least 0.5×), with wrk.
// Usage: DATABASE_URL=postgres://… node --import tsx bench/postgres-narinfo.ts [seconds per run, default 4]
// Hits are served by the HTTP layer's PathInfo cache on both sides; 404s are not cached, so every one is a lookup in
// the backend (SQLite or PostgreSQL): that row is the backend comparison.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cleanupE2E, disposeFixtures, hashPart, makeFixtures, makeTempDir, nixEnv, runCommand, runNix, startServer } from '../test/e2e/harness.js';

const TARGET = 0.5;
const RUNS = 2;
const WRK_ARGS = ['-t2', '-c32'];
const ABSENT_HASH = '0'.repeat(32);

async function wrk(url: string, seconds: number): Promise<number> {
  const { stdout } = await runCommand('wrk', [...WRK_ARGS, `-d${seconds}s`, url], process.env, { timeoutMs: (seconds + 30) * 1000 });
  if (/Socket errors:/.test(stdout)) throw new Error(`wrk saw socket errors against ${url}:\n${stdout}`);
  const rate = /^Requests\/sec:\s+([\d.]+)$/m.exec(stdout)?.[1];
  if (rate === undefined) throw new Error(`no Requests/sec in wrk output:\n${stdout}`);
  return Number(rate);
}

async function main(): Promise<void> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL is unset (start PostgreSQL with /work/shared/services/start-postgres.sh)');
  const seconds = Number(process.argv[2] ?? 4);
  const dbName = `nb_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  try {
    const url = new URL(adminUrl);
    url.pathname = `/${dbName}`;
    const fx = await makeFixtures();
    const env = await nixEnv();
    const quiet = ['--log-level', 'warn'];
    const embedded = await startServer({ dataDir: await makeTempDir('bench-embedded'), extraArgs: quiet });
    const postgres = await startServer({
      dataDir: await makeTempDir('bench-pg'),
      extraArgs: [...quiet, '--directory-service-addr', url.href, '--path-info-service-addr', url.href],
    });
    for (const server of [embedded, postgres]) await runNix(['copy', '--to', server.url, fx.y], env);
    const cases = [
      { name: 'narinfo hit (cached)', path: `/${hashPart(fx.y)}.narinfo`, status: 200 },
      { name: 'narinfo 404 (backend)', path: `/${ABSENT_HASH}.narinfo`, status: 404 },
    ];
    for (const c of cases) {
      const rates: Record<'embedded' | 'postgres', number[]> = { embedded: [], postgres: [] };
      for (let run = 0; run < RUNS; run++) {
        // Alternate which side goes first, so drift in machine load does not favour one.
        const order = run % 2 === 0 ? (['embedded', 'postgres'] as const) : (['postgres', 'embedded'] as const);
        for (const side of order) {
          const target = `${(side === 'embedded' ? embedded : postgres).url}${c.path}`;
          const probe = await fetch(target);
          await probe.arrayBuffer();
          if (probe.status !== c.status) throw new Error(`GET ${target}: ${probe.status}, expected ${c.status}`);
          rates[side].push(await wrk(target, seconds));
        }
      }
      const ratios = rates.postgres.map((p, i) => p / (rates.embedded[i] ?? Number.NaN));
      console.log(
        `${c.name}: embedded ${rates.embedded.map((r) => r.toFixed(0)).join(', ')} req/s; postgres ${rates.postgres.map((r) => r.toFixed(0)).join(', ')} req/s; ` +
          `ratio ${ratios.map((r) => r.toFixed(2)).join(', ')} (target ≥ ${TARGET})`,
      );
    }
  } finally {
    await cleanupE2E();
    await disposeFixtures();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
