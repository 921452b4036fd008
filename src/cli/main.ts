// The composition root: argv/env → settings → store → HTTP server; exit codes live here only.
import { collectDefaultMetrics, Registry } from 'prom-client';
import { NarBridgeError } from '../errors.js';
import { buildServer, HttpMetrics } from '../http/index.js';
import { importCommand, IMPORT_USAGE } from './import.js';
import { infoCommand, INFO_USAGE } from './info.js';
import { exportCommand, EXPORT_USAGE } from './export.js';
import { lsCommand, LS_USAGE } from './ls.js';
import { catCommand, CAT_USAGE } from './cat.js';
import { formatUrl } from './listen-address.js';
import { openLocalStore } from './open-store.js';
import { cached, STATS_MAX_AGE_MS } from './store-stats.js';
import { openStoreOverrides } from './service-overrides.js';
import { isLocalGrpcAddress } from './grpc-listen-address.js';
import { startGrpcServer } from '../grpc/index.js';
import { readGrpcTls } from './grpc-tls.js';
import { serveSettings } from './settings.js';
import { keysCommand, KEYS_USAGE } from './keys.js';
import { isLoopback, loadTrust } from './load-trust.js';
import { SigningPathInfoService, type UpstreamLog } from '../store/index.js';
import { CompositionMetrics } from './composition-metrics.js';
import { withUpstreams } from './upstream-store.js';
import { readComposition, withTiers } from './tiers.js';

const USAGE = `usage: nar-bridge serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--priority N] [--log-level LEVEL]

  --config     TOML file whose keys are these flags' names (env NAR_BRIDGE_CONFIG); flags > env > file > defaults
  --listen     address to serve HTTP on (env NAR_BRIDGE_LISTEN, default 127.0.0.1:9000)
  --data-dir   embedded store location (env NAR_BRIDGE_DATA_DIR, default $XDG_DATA_HOME/nar-bridge)
  --priority   Priority advertised in nix-cache-info (env NAR_BRIDGE_PRIORITY, default 40)
  --log-level  fatal|error|warn|info|debug|trace|silent (env NAR_BRIDGE_LOG_LEVEL, default info)
  --grpc-listen HOST:PORT|unix:/PATH   also serve the tvix gRPC services there (env NAR_BRIDGE_GRPC_LISTEN)
  --grpc-tls-cert FILE --grpc-tls-key FILE   serve gRPC over TLS with this PEM chain and key (env NAR_BRIDGE_GRPC_TLS_CERT/_KEY)
  --blob-service-addr URL       blobs elsewhere: memory://, local:///DIR, grpc+http://H:P, grpc+https://H:P,
                                grpc+unix:///SOCKET (env NAR_BRIDGE_BLOB_SERVICE_ADDR, default: the data dir)
  --directory-service-addr URL  memory://, sqlite:///FILE or grpc+… (env NAR_BRIDGE_DIRECTORY_SERVICE_ADDR)
  --path-info-service-addr URL  memory://, sqlite:///FILE or grpc+… (env NAR_BRIDGE_PATH_INFO_SERVICE_ADDR)
                                grpc+… URLs take ?token-file=/PATH (sent as a Bearer token); grpc+https also ?ca-file=/PEM
  --grpc-client-token-file FILE token for grpc+… service URLs without their own (env NAR_BRIDGE_GRPC_CLIENT_TOKEN_FILE)
  --signing-key-file FILE       sign served narinfos with this Nix secret key; repeatable (env NAR_BRIDGE_SIGNING_KEY_FILE)
  --trusted-public-keys "K…"    keys whose signatures --require-signed-uploads accepts (env NAR_BRIDGE_TRUSTED_PUBLIC_KEYS)
  --require-signed-uploads      refuse narinfos not signed by a trusted key, unless their CA checks out
  --tokens-file FILE            "read TOKEN" / "write TOKEN" lines; writes then need a write token (Basic password or Bearer)
  --private-reads               reads need a read or write token too (needs --tokens-file)
  --max-nar-size BYTES          per upload, compressed and uncompressed (default 64G; K/M/G/T suffixes)
  --max-narinfo-size BYTES      (default 1M)
  --max-decompression-ratio N   NAR bytes per uploaded byte, past 16 MiB (default 1000)
  --max-depth N                 directory nesting in a NAR (default 1024)
  --max-entries-per-directory N (default 1000000)
  --upload-idle-timeout SECONDS an upload body silent this long is refused with 400 (default 60)
  --max-concurrent-uploads N    NAR uploads ingested at once; more wait their turn (default 32)
  --upstream URL                pull narinfo misses from this Nix cache, verified; repeatable (env NAR_BRIDGE_UPSTREAM, space-separated):
                                'http://H:P/PATH?trusted-public-keys=name:KEY%20name2:KEY2&priority=N'
  --upstream-miss-ttl SECONDS   answer a path no upstream had as absent for this long (default 60)
  --composition FILE            TOML or JSON file composing tiered services (see README, Composition)

${KEYS_USAGE}
${IMPORT_USAGE}
${INFO_USAGE}
${EXPORT_USAGE}
${LS_USAGE}
${CAT_USAGE}`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
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
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(USAGE);
        return 2;
    }
  } catch (err) {
    if (NarBridgeError.is(err) && err.code === 'NB_ERR_CONFIG') {
      process.stderr.write(`nar-bridge: ${err.message}\n`);
      return 2;
    }
    // export, ls and cat asked for a path or file the store does not have.
    if (NarBridgeError.is(err) && err.code === 'NB_ERR_NOT_FOUND') {
      process.stderr.write(`nar-bridge: ${err.message}\n`);
      return 1;
    }
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`nar-bridge: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

async function serve(args: readonly string[]): Promise<number> {
  const settings = serveSettings(args, process.env);
  const overrides = await openStoreOverrides(settings);
  const local = await openLocalStore(settings.dataDir, overrides.services);
  const trust = await loadTrust(settings.trust);
  const grpcTls = await readGrpcTls(settings);
  const registry = processMetrics();
  // Upstreams are only asked while serving requests, by which time the server (and its logger) exists.
  const upstreamLog: UpstreamLog = { info: (fields, msg) => app.log.info(fields, msg), warn: (fields, msg) => app.log.warn(fields, msg) };
  const compositionMetrics = new CompositionMetrics(registry);
  const { compositionFile } = settings.composition;
  const tiers = await withTiers(local.store, compositionFile === null ? {} : await readComposition(compositionFile), compositionMetrics);
  const composed = withUpstreams(tiers.store, settings.composition, compositionMetrics, upstreamLog);
  const store = trust.signingKeys.length === 0 ? composed : { ...composed, pathInfos: new SigningPathInfoService(composed.pathInfos, trust.signingKeys, upstreamLog) };
  const app = await buildServer({
    store,
    ...(trust.access ? { access: trust.access } : {}),
    uploadPolicy: trust.uploadPolicy,
    limits: settings.trust.limits,
    priority: settings.priority,
    logger: { level: settings.logLevel },
    buildLogs: local.buildLogs,
    realisations: local.realisations,
    metrics: new HttpMetrics(registry, cached(local.stats, STATS_MAX_AGE_MS)),
  });
  await app.listen({ host: settings.listen.host, port: settings.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.listen.port;
  app.log.info({ url: formatUrl({ ...settings.listen, port }), dataDir: settings.dataDir, priority: settings.priority }, 'nar-bridge listening');
  if (!trust.access && !isLoopback(settings.listen.host)) {
    app.log.warn({ host: settings.listen.host }, 'NO ACCESS CONTROL: anyone who can reach this address can push store paths; set --tokens-file');
  }
  const grpc = settings.grpcListen === null
    ? null
    : await startGrpcServer(settings.grpcListen, {
        store: local.store,
        log: app.log.child({ component: 'grpc' }),
        ...(trust.access ? { access: trust.access } : {}),
        ...(grpcTls ? { tls: grpcTls } : {}),
      });
  if (grpc) app.log.info({ grpcListen: settings.grpcListen, port: grpc.port }, 'gRPC listening');
  if (grpc && !trust.access && settings.grpcListen !== null && !isLocalGrpcAddress(settings.grpcListen)) {
    app.log.warn({ grpcListen: settings.grpcListen }, 'NO ACCESS CONTROL on gRPC: anyone who can reach this address can write blobs, directories and path infos; set --tokens-file');
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  app.log.info({ signal }, 'shutting down');
  await grpc?.close();
  await app.close();
  local.close();
  tiers.close();
  overrides.close();
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
