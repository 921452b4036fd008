// The composition root: argv/env → settings → store → HTTP server. Help texts live in help.ts, exit codes in fail.ts.
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildServer, GcMetrics, HttpMetrics } from '../http/index.js';
import { embeddedCollector, gcRunner, postgresCollector, startGcSchedule, type GcLog, type GcSchedule } from './gc-schedule.js';
import { importCommand } from './import.js';
import { infoCommand } from './info.js';
import { exportCommand } from './export.js';
import { lsCommand } from './ls.js';
import { catCommand } from './cat.js';
import { verifyCommand } from './verify.js';
import { migrateCommand } from './migrate.js';
import { copyCommand } from './copy.js';
import { deleteCommand, gcCommand, pinCommand, pinsCommand, unpinCommand } from './gc.js';
import { formatUrl } from './listen-address.js';
import { openLocalStore } from './open-store.js';
import { cached, STATS_MAX_AGE_MS } from './store-stats.js';
import { openStoreOverrides } from './service-overrides.js';
import { isLocalGrpcAddress } from './grpc-listen-address.js';
import { startGrpcServer, type GrpcListener } from '../grpc/index.js';
import { readGrpcTls } from './grpc-tls.js';
import { serveSettings, type ServeSettings } from './settings.js';
import { prettyLogStream } from './pretty-log.js';
import { keysCommand } from './keys.js';
import { isLoopback, loadTrust } from './load-trust.js';
import { AccessRecorder, allPeers, composeStore, GuardedRealisationService, type GcTarget, type UpstreamLog } from '../store/index.js';
import { CompositionMetrics } from './composition-metrics.js';
import { upstreamComposition } from './upstream-store.js';
import { readComposition, withTiers } from './tiers.js';
import { withNearCache } from './near-cache.js';
import { asksForHelp, isCommand, overview, unknownCommand, usageOf, version } from './help.js';
import { failure } from './fail.js';
import { prepareDataDir, startupWarnings, storeWritable } from './startup-checks.js';
import { startupSummary } from './startup-summary.js';
import { asWorker, isClusterPrimary, stopSignal, superviseWorkers, type ClusterWorker } from './workers.js';

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(command === 'help' && rest[0] !== undefined ? usageOf(rest[0]) : overview());
      return 0;
    }
    if (command === '--version') {
      process.stdout.write(version());
      return 0;
    }
    if (!isCommand(command)) throw unknownCommand(command);
    if (asksForHelp(rest)) {
      process.stdout.write(usageOf(command));
      return 0;
    }
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'keys':
        return await keysCommand(rest, { stdout: (text) => process.stdout.write(text), stdin: readStdin });
      case 'import':
        return await importCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t), stderr: process.stderr });
      case 'info':
        return await infoCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'export':
        return await exportCommand(rest, { env: process.env, stdout: process.stdout, stderr: process.stderr });
      case 'ls':
        return await lsCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'cat':
        return await catCommand(rest, { env: process.env, stdout: process.stdout });
      case 'verify':
        return await verifyCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
      case 'copy':
        return await copyCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t), stderr: process.stderr });
      case 'migrate':
        return await migrateCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'gc':
        return await gcCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'delete':
        return await deleteCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'pin':
        return await pinCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'unpin':
        return await unpinCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
      case 'pins':
        return await pinsCommand(rest, { env: process.env, stdout: (t) => process.stdout.write(t) });
    }
  } catch (err) {
    const failed = failure(err, command);
    if (failed === null) throw err;
    process.stderr.write(`${failed.message}\n`);
    return failed.exitCode;
  }
}

async function serve(args: readonly string[]): Promise<number> {
  const settings = serveSettings(args, process.env);
  if (isClusterPrimary(settings)) return superviseWorkers(settings);
  return asWorker((worker) => serveHere(settings, worker));
}

/** How often a server closes its descriptors of packs removed by another process (their disk space then comes back). */
const FORGET_PACKS_EVERY_MS = 30_000;

function forgetRemovedPacks(target: GcTarget, log: { warn(fields: object, msg: string): void }): void {
  try {
    target.packs.forgetRemovedPacks();
  } catch (err) {
    log.warn({ err }, 'removed packs not checked (retried later)');
  }
}

/** The server itself: the only process, or one of --workers. */
async function serveHere(settings: ServeSettings, worker: ClusterWorker | null): Promise<number> {
  await prepareDataDir(settings.dataDir);
  const trust = await loadTrust(settings.trust);
  const overrides = await openStoreOverrides(settings);
  const registry = processMetrics();
  const compositionMetrics = new CompositionMetrics(registry);
  const nearCache = withNearCache(settings.dataDir, settings.composition.cacheMaxBytes, overrides.services, compositionMetrics);
  const local = await openLocalStore(settings.dataDir, nearCache.services);
  const grpcTls = await readGrpcTls(settings);
  // Upstreams are only asked while serving requests, by which time the server (and its logger) exists.
  const upstreamLog: UpstreamLog = { info: (fields, msg) => app.log.info(fields, msg), warn: (fields, msg) => app.log.warn(fields, msg) };
  const { compositionFile } = settings.composition;
  const tiers = await withTiers(local.store, compositionFile === null ? {} : await readComposition(compositionFile), compositionMetrics);
  // Workers of this server, and replicas sharing its PathInfos in PostgreSQL, drop their cached copy of what we change.
  const cachePeers = allPeers(worker?.cachePeers, overrides.services.pathInfoChanges);
  // One store for every door: HTTP and gRPC writes meet the same checks, signing and upload policy.
  const store = composeStore(tiers.store, {
    signingKeys: trust.signingKeys,
    uploadPolicy: trust.uploadPolicy,
    log: upstreamLog,
    ...(cachePeers ? { cachePeers } : {}),
    ...upstreamComposition(settings.composition, compositionMetrics, upstreamLog),
  });
  const stats = cached(local.stats, STATS_MAX_AGE_MS);
  // GC, deletion and access times need every service embedded and no tiers (a tier's contents are another store's).
  const gcTarget: GcTarget | null =
    local.gc && compositionFile === null ? { ...local.gc, ...(store.forgetPaths ? { forgetPaths: store.forgetPaths } : {}) } : null;
  const access = gcTarget ? new AccessRecorder(gcTarget.tables, (err) => app.log.warn({ err }, 'access times not recorded (retried later)')) : null;
  gcTarget?.tables.registerServer(Date.now());
  // Runs (scheduled, or POST /admin/gc) happen while serving, by which time the server's logger exists.
  const gcLog: GcLog = {
    info: (fields, msg) => app.log.info({ component: 'gc', ...fields }, msg),
    warn: (fields, msg) => app.log.warn({ component: 'gc', ...fields }, msg),
    error: (fields, msg) => app.log.error({ component: 'gc', ...fields }, msg),
  };
  const forget = store.forgetPaths ? { forgetPaths: store.forgetPaths } : {};
  const postgresGc = local.postgresGc && compositionFile === null ? { ...local.postgresGc, ...forget } : null;
  const collector = gcTarget ? embeddedCollector(gcTarget) : postgresGc ? postgresCollector(postgresGc) : null;
  const runGc = collector ? gcRunner(collector, settings.gc, gcLog, new GcMetrics(registry)) : null;
  const app = await buildServer({
    store,
    ...(trust.access ? { access: trust.access } : {}),
    limits: settings.trust.limits,
    priority: settings.priority,
    logger: {
      level: settings.logLevel,
      ...((settings.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty' ? { stream: prettyLogStream(process.stdout) } : {}),
    },
    buildLogs: local.buildLogs,
    realisations: new GuardedRealisationService(local.realisations, trust.uploadPolicy),
    metrics: new HttpMetrics(registry, stats, worker ? { exposition: worker.metricsOf(registry) } : {}),
    ready: () => storeWritable(settings.dataDir),
    ...(collector ? { deletePaths: collector.deletePaths } : {}),
    ...(runGc ? { collectGarbage: runGc } : {}),
    ...(access ? { onPathAccess: (digest: Uint8Array) => access.accessed(digest) } : {}),
    landing: { publicKeys: trust.signingKeys.map((key) => key.publicKey().toString()), totals: stats, ...(local.recent ? { recent: local.recent } : {}) },
  });
  let grpc: GrpcListener | null = null;
  const { intervalMs } = settings.gc;
  const gcSchedule: GcSchedule | null = collector && runGc && intervalMs !== null ? startGcSchedule(collector, intervalMs, runGc, gcLog) : null;
  // Another process's GC (another worker's turn, `nar-bridge gc`) may remove packs this one has open.
  const forgetPacks = gcTarget ? setInterval(() => forgetRemovedPacks(gcTarget, app.log), FORGET_PACKS_EVERY_MS).unref() : null;
  const close = async () => {
    if (forgetPacks) clearInterval(forgetPacks);
    await gcSchedule?.stop();
    access?.close();
    try {
      gcTarget?.tables.unregisterServer();
    } catch (err) {
      // A full disk must not fail the shutdown: the row of a process that is gone is dropped by the next reader.
      app.log.warn({ err }, 'server registration not removed');
    }
    await grpc?.close();
    await app.close();
    await local.close();
    await nearCache.close();
    tiers.close();
    overrides.close();
  };
  try {
    await app.listen({ host: settings.listen.host, port: settings.listen.port });
    grpc =
      settings.grpcListen === null
        ? null
        : await startGrpcServer(settings.grpcListen, {
            store,
            log: app.log.child({ component: 'grpc' }),
            ...(trust.access ? { access: trust.access } : {}),
            ...(grpcTls ? { tls: grpcTls } : {}),
          });
  } catch (err) {
    await close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.listen.port;
  const grpcAddress =
    grpc && settings.grpcListen !== null ? (grpc.port === 0 ? settings.grpcListen : settings.grpcListen.replace(/:\d+$/, `:${grpc.port}`)) : null;
  app.log.info(
    { ...startupSummary(settings, trust, { url: formatUrl({ ...settings.listen, port }), grpc: grpcAddress }), ...(worker ? { worker: worker.id } : {}) },
    'nar-bridge listening',
  );
  worker?.ready();
  for (const { fields, msg } of await startupWarnings(settings.trust, trust)) app.log.warn(fields, msg);
  if (!trust.access && !isLoopback(settings.listen.host)) {
    app.log.warn({ host: settings.listen.host }, 'NO ACCESS CONTROL: anyone who can reach this address can push store paths; set --tokens-file');
  }
  if (grpc && !trust.access && settings.grpcListen !== null && !isLocalGrpcAddress(settings.grpcListen)) {
    app.log.warn(
      { grpcListen: settings.grpcListen },
      'NO ACCESS CONTROL on gRPC: anyone who can reach this address can write blobs, directories and path infos; set --tokens-file',
    );
  }

  const signal = await stopSignal();
  app.log.info({ signal }, 'shutting down');
  await close();
  return 0;
}

/** A registry with Node's process metrics (CPU, memory, event-loop lag) beside ours. */
function processMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
