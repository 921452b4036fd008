// `nar-bridge gc`, `delete`, `pin`, `unpin`, `pins`: garbage collection, deletion and pins on a data dir.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { parseStorePathHashPart, STORE_DIR, type StorePathDigest } from '../nix/index.js';
import { collectGarbage, deleteStorePaths, GC_PHASES, PathGraph, pathKey, type GcPhase, type GcReport, type GcTarget } from '../store/index.js';
import { configuredStoreSettings, STORE_COMMAND_OPTIONS } from './configured-store.js';
import { postgresCollector, type Collector } from './gc-schedule.js';
import { openStoreOverrides } from './service-overrides.js';
import { postgresGcStore } from './settings.js';
import { RETENTION_OPTIONS, retentionSettings, serverGraceDefaults } from './gc-settings.js';
import { openLocalStore, type OpenStore } from './open-store.js';
import { formatBytes } from './progress.js';
import { CONFIG_OPTION } from './settings.js';
import type { OptionValues } from './config-file.js';
import { requireStore } from './configured-store.js';

const STORE_FLAGS = '[--data-dir DIR] [--config FILE]';
/** gc and delete also work on a store replicas share (PostgreSQL and S3), named as for serve. */
const SHARED_STORE_FLAGS = `${STORE_FLAGS} [--path-info-service-addr postgresql://… --directory-service-addr (the same) --blob-service-addr s3://…]`;

export const GC_USAGE = `usage: nar-bridge gc [--dry-run] [--json] [--gc-max-size SIZE] [--gc-max-age DUR] [--gc-upload-grace DUR] [--gc-object-grace DUR] ${SHARED_STORE_FLAGS}
       nar-bridge gc --server URL [--token-file FILE] [--dry-run] [--json]

  Deletes everything no stored path needs: Directories, blobs and chunks of deleted or evicted paths, upload records
  no narinfo claimed, build logs of deleted paths; then rewrites packs that are mostly dead to give the disk space
  back. Safe beside a running server (its pushes wait while the collector marks and sweeps).
  --dry-run             report what would go, delete nothing
  --json                print the report as JSON
  --gc-max-size SIZE    evict least recently used paths until their NarSizes add up to at most SIZE (512M, 20G)
  --gc-max-age DUR      evict paths not looked up for DUR (30m, 12h, 7d)
  --gc-upload-grace DUR keep a NAR no narinfo claimed this long after its upload or last HEAD
  --gc-object-grace DUR keep blobs and Directories nothing refers to yet this long after they were written
  The graces default to 24h and 1h while a server has the data dir open (a push may be half-way), else to 0.
  Pinned paths and their closures are never evicted; a path is only evicted once nothing kept refers to it.
  On a store replicas share (PostgreSQL and S3) the graces always default to 24h and 1h (replicas may be pushing),
  retention (--gc-max-size, --gc-max-age) and pins are not available, and one run at a time goes across replicas.
  --server URL          ask that server to run it (POST URL/admin/gc), with the server's own --gc-* settings; every
                        worker forgets evicted paths at once. --token-file FILE holds a write token for it.
`;

export const DELETE_USAGE = `usage: nar-bridge delete [--recursive] PATH… ${SHARED_STORE_FLAGS}

  Deletes store paths (PATH: /nix/store/HASH-NAME, HASH-NAME or HASH); their objects go at the next gc. Refused while
  a kept path refers to one of them (--recursive deletes those referrers too) and for pinned paths and closures.
  Beside a running server, its workers may serve a deleted narinfo from memory for up to 10 s; DELETE /<hash>.narinfo
  through the server forgets it at once.
`;

export const PIN_USAGE = `usage: nar-bridge pin PATH… ${STORE_FLAGS}

  Pins store paths: they and their closures are never evicted or deleted.
`;

export const UNPIN_USAGE = `usage: nar-bridge unpin PATH… ${STORE_FLAGS}\n\n  Removes pins.\n`;

export const PINS_USAGE = `usage: nar-bridge pins ${STORE_FLAGS}\n\n  Lists pinned store paths.\n`;

/** With no server on the data dir nothing is half-way: what nothing refers to goes at once. */
const ALONE = { uploadGraceMs: 0, objectGraceMs: 0 } as const;

export interface GcIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
}

const STORE_PARSE = { 'data-dir': { type: 'string' }, ...CONFIG_OPTION } as const;

async function withGcTarget<T>(
  values: OptionValues<typeof STORE_COMMAND_OPTIONS>,
  env: NodeJS.ProcessEnv,
  body: (target: GcTarget, local: OpenStore) => Promise<T>,
): Promise<T> {
  const { dataDir, ...services } = configuredStoreSettings(values, env);
  if (services.pathInfoServiceAddr !== null || services.directoryServiceAddr !== null || services.blobServiceAddr !== null) {
    throw new NarBridgeError(
      'NB_ERR_CONFIG',
      'gc, delete and pins work on the embedded store; gc and delete also on PostgreSQL (path infos and directories at one URL) with s3:// blobs',
    );
  }
  requireStore(dataDir);
  const local = await openLocalStore(dataDir);
  try {
    if (!local.gc) throw new NarBridgeError('NB_ERR_CONFIG', 'garbage collection works on the embedded store');
    return await body(local.gc, local);
  } finally {
    await local.close();
  }
}

/**
 * `body` with the collector of a store replicas share, when the flags (or config file) name one; else null without
 * calling it (the embedded store's commands go on).
 */
async function withSharedStore<T>(
  values: OptionValues<typeof STORE_COMMAND_OPTIONS>,
  env: NodeJS.ProcessEnv,
  body: (collector: Collector) => Promise<T>,
): Promise<{ value: T } | null> {
  const settings = configuredStoreSettings(values, env);
  if (!postgresGcStore(settings)) return null;
  const overrides = await openStoreOverrides(settings);
  try {
    const local = await openLocalStore(settings.dataDir, overrides.services);
    try {
      if (!local.postgresGc) throw new NarBridgeError('NB_ERR_CONFIG', 'garbage collection needs the S3 object index in PostgreSQL');
      // The replicas serving this store drop their cached narinfos of what this deleted (see PostgresPathInfoChanges).
      const deleted: Uint8Array[] = [];
      const value = await body(postgresCollector({ ...local.postgresGc, forgetPaths: (digests) => deleted.push(...digests) }));
      const changes = overrides.services.pathInfoChanges;
      if (changes) await Promise.all(deleted.map((digest) => changes.changed(digest)));
      return { value };
    } finally {
      await local.close();
    }
  } finally {
    overrides.close();
  }
}

export async function gcCommand(args: readonly string[], io: GcIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      server: { type: 'string' },
      'token-file': { type: 'string' },
      ...RETENTION_OPTIONS,
      ...STORE_COMMAND_OPTIONS,
    },
  });
  if (values.server !== undefined) {
    const local = Object.keys(values).find((key) => key in RETENTION_OPTIONS || key in STORE_COMMAND_OPTIONS);
    if (local) throw new NarBridgeError('NB_ERR_CONFIG', `--${local} does not go with --server: the server collects with its own settings`);
    const report = await gcThroughServer(values.server, values['token-file'], values['dry-run'] ?? false);
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : describeReport(report));
    return 0;
  }
  if (values['token-file'] !== undefined) throw new NarBridgeError('NB_ERR_CONFIG', '--token-file goes with --server');
  retentionSettings(values, io.env, ALONE); // bad flags are refused before the store is opened
  const dieAt = io.env.NAR_BRIDGE_GC_DIE_AT;
  if (dieAt !== undefined && !GC_PHASES.includes(dieAt as GcPhase))
    throw new NarBridgeError('NB_ERR_CONFIG', `NAR_BRIDGE_GC_DIE_AT must be one of ${GC_PHASES.join(', ')}`);
  const shared = await withSharedStore(values, io.env, (collector) =>
    collector.collect({ ...retentionSettings(values, io.env, serverGraceDefaults(true)), dryRun: values['dry-run'] ?? false }),
  );
  const report =
    shared?.value ??
    (await withGcTarget(values, io.env, (target) =>
      collectGarbage(target, {
        // Beside a live server a push may be half-way (its NAR in, its narinfo to come; a gRPC client's objects in, its
        // PathInfo to come): the server's grace periods by default.
        ...retentionSettings(values, io.env, target.tables.liveServers().length > 0 ? serverGraceDefaults(true) : ALONE),
        dryRun: values['dry-run'] ?? false,
        // For crash tests: the process kills itself (no cleanup at all) when it reaches the named phase.
        ...(dieAt === undefined ? {} : { atPhase: (phase: GcPhase) => void (phase === dieAt && process.kill(process.pid, 'SIGKILL')) }),
      }),
    ));
  io.stdout(values.json ? `${JSON.stringify(report)}\n` : describeReport(report));
  return 0;
}

/** POST /admin/gc: the server runs one collection and answers its report. */
async function gcThroughServer(server: string, tokenFile: string | undefined, dryRun: boolean): Promise<GcReport> {
  if (!URL.canParse(server)) throw new NarBridgeError('NB_ERR_CONFIG', `--server ${server} is not a URL`);
  const url = new URL(`${server.replace(/\/+$/, '')}/admin/gc`);
  if (dryRun) url.searchParams.set('dry-run', '1');
  const token = tokenFile === undefined ? null : (await readFile(tokenFile, 'utf8')).trim();
  const response = await fetch(url, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} }).catch((err: unknown) => {
    throw new NarBridgeError(
      'NB_ERR_CONFIG',
      `cannot reach ${server}: ${err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err)}`,
    );
  });
  const body = await response.text();
  if (response.ok) return JSON.parse(body) as GcReport;
  const why = `${server} answered ${response.status}: ${body.trim()}`;
  // 409: a run is going already (exit 1, as a refusal); anything else: this command cannot run as invoked.
  throw new NarBridgeError(
    response.status === 409 ? 'NB_ERR_CONFLICT' : 'NB_ERR_CONFIG',
    response.status === 404 ? `${why} (is it serving the embedded store?)` : why,
  );
}

export function describeReport(report: GcReport): string {
  const verb = report.dryRun ? 'would reclaim' : 'reclaimed';
  const lines = [
    `${verb}: ${report.evicted.length} paths evicted, ${report.directories} directories, ${report.records} objects (${formatBytes(report.objectBytes)}), ${report.uploads} upload records, ${report.buildLogs} build logs`,
  ];
  if (!report.dryRun)
    lines.push(
      `packs: ${report.packsRemoved} removed or rewritten, ${formatBytes(Math.max(0, report.diskBytesFreed))} of disk given back; ${report.durationMs} ms`,
    );
  for (const name of report.evicted) lines.push(`evicted: ${STORE_DIR}/${name}`);
  return `${lines.join('\n')}\n`;
}

/** `/nix/store/HASH-NAME`, `HASH-NAME` or `HASH` → the 20-byte digest. */
function pathDigest(arg: string): StorePathDigest {
  const base = arg.startsWith(`${STORE_DIR}/`) ? arg.slice(STORE_DIR.length + 1) : arg;
  try {
    return parseStorePathHashPart(base.slice(0, 32));
  } catch (err) {
    throw new NarBridgeError('NB_ERR_NOT_FOUND', `${arg}: not a store path, basename or hash part`, { cause: err });
  }
}

function pathArgs(args: readonly string[]) {
  const parsed = parseArgs({ args: [...args], strict: true, allowPositionals: true, options: { recursive: { type: 'boolean' }, ...STORE_COMMAND_OPTIONS } });
  if (parsed.positionals.length === 0) throw new NarBridgeError('NB_ERR_CONFIG', 'name at least one store path');
  return { values: parsed.values, digests: parsed.positionals.map(pathDigest) };
}

export async function deleteCommand(args: readonly string[], io: GcIo): Promise<number> {
  const { values, digests } = pathArgs(args);
  const recursive = values.recursive === true;
  const deleted =
    (await withSharedStore(values, io.env, (collector) => collector.deletePaths(digests, recursive)))?.value ??
    (await withGcTarget(values, io.env, (target) => deleteStorePaths(target, digests, recursive)));
  for (const name of deleted) io.stdout(`deleted: ${STORE_DIR}/${name}\n`);
  return 0;
}

export async function pinCommand(args: readonly string[], io: GcIo): Promise<number> {
  const { values, digests } = pathArgs(args);
  await withGcTarget(values, io.env, async (target) => {
    for (const digest of digests)
      if (!(await target.pathInfos.get(digest))) throw new NarBridgeError('NB_ERR_NOT_FOUND', `${pathKey(digest)}: no such store path in this store`);
    target.tables.pin(digests, Date.now());
  });
  return 0;
}

export async function unpinCommand(args: readonly string[], io: GcIo): Promise<number> {
  const { values, digests } = pathArgs(args);
  await withGcTarget(values, io.env, async (target) => target.tables.unpin(digests));
  return 0;
}

export async function pinsCommand(args: readonly string[], io: GcIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: STORE_PARSE });
  await withGcTarget(values, io.env, async (target) => {
    const graph = await PathGraph.load(target.pathInfos);
    for (const key of target.tables.pins().keys()) io.stdout(`${STORE_DIR}/${graph.basename(key)}\n`);
  });
  return 0;
}
