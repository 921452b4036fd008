// Command-line flags, NAR_BRIDGE_* environment variables and the config file → validated settings.
// Precedence: flags > env > config file > defaults.
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { parseListenAddress, type ListenAddress } from './listen-address.js';
import { parseGrpcListenAddress } from './grpc-listen-address.js';
import { TRUST_OPTIONS, trustSettings, type TrustSettings } from './trust-settings.js';
import { COMPOSITION_OPTIONS, compositionSettings, type CompositionSettings } from './composition-settings.js';
import { namingTheSource, withConfigFile, type OptionValues } from './config-file.js';
import { LOG_FORMATS, type LogFormat } from './pretty-log.js';
import { GC_OPTIONS, gcSettings, type GcSettings } from './gc-settings.js';
import { isPostgresUrl } from './postgres-metadata.js';

/** Where the store lives; `serve` and the commands that open the store without serving (import, export, ls, cat). */
export interface StoreSettings {
  readonly dataDir: string;
  /** Service URLs replacing the embedded store's blobs, directories, PathInfos; null keeps the embedded one. */
  readonly blobServiceAddr: string | null;
  readonly directoryServiceAddr: string | null;
  readonly pathInfoServiceAddr: string | null;
  /** Token presented to every grpc+… service URL that names no `token-file` of its own; null: none. */
  readonly grpcClientTokenFile: string | null;
}

export interface ServeSettings extends StoreSettings {
  readonly listen: ListenAddress;
  readonly priority: number;
  readonly logLevel: string;
  /** Human-readable lines or JSON; null: pretty when stdout is a terminal, JSON otherwise. */
  readonly logFormat: LogFormat | null;
  /** grpc-js bind address for the tvix gRPC services, or null for no gRPC server. */
  readonly grpcListen: string | null;
  /** PEM certificate chain and key to serve gRPC over TLS with (both or neither); null serves plaintext HTTP/2. */
  readonly grpcTlsCertFile: string | null;
  readonly grpcTlsKeyFile: string | null;
  /** Signing, upload policy, access control and upload limits. */
  readonly trust: TrustSettings;
  /** Upstream caches and tiered services. */
  readonly composition: CompositionSettings;
  /** Processes serving requests; 1 serves from this process alone, more fork worker processes (workers.ts). */
  readonly workers: number;
  /** Background garbage collection and retention. */
  readonly gc: GcSettings;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The flags naming the store, shared with the commands that open it without serving. */
export const STORE_OPTIONS = {
  'data-dir': { type: 'string' },
  'blob-service-addr': { type: 'string' },
  'directory-service-addr': { type: 'string' },
  'path-info-service-addr': { type: 'string' },
  'grpc-client-token-file': { type: 'string' },
} as const;

/** Every flag of `serve`; they are also the config file's keys. */
export const SERVE_OPTIONS = {
  listen: { type: 'string' },
  ...STORE_OPTIONS,
  priority: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'grpc-listen': { type: 'string' },
  'grpc-tls-cert': { type: 'string' },
  'grpc-tls-key': { type: 'string' },
  workers: { type: 'string' },
  ...TRUST_OPTIONS,
  ...COMPOSITION_OPTIONS,
  ...GC_OPTIONS,
} as const;

/** `--config FILE`: names the config file, so it is not a key in one. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

export function serveSettings(args: readonly string[], env: NodeJS.ProcessEnv): ServeSettings {
  const { values: flags } = parseArgs({ args: [...args], strict: true, options: { ...SERVE_OPTIONS, ...CONFIG_OPTION } });
  const file = flags.config ?? env.NAR_BRIDGE_CONFIG;
  const values = withConfigFile(SERVE_OPTIONS, flags, file, env);
  return namingTheSource(() => settingsFrom(values, env), flags, file, env);
}

function settingsFrom(values: OptionValues<typeof SERVE_OPTIONS>, env: NodeJS.ProcessEnv): ServeSettings {
  const priority = Number(values.priority ?? env.NAR_BRIDGE_PRIORITY ?? 40);
  if (!Number.isInteger(priority) || priority < 0) throw new NarBridgeError('NB_ERR_CONFIG', '--priority must be a non-negative integer');
  const logLevel = values['log-level'] ?? env.NAR_BRIDGE_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new NarBridgeError('NB_ERR_CONFIG', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = optional(values['log-format'] ?? env.NAR_BRIDGE_LOG_FORMAT, parseLogFormat);
  const store = storeSettings(values, env);
  // A memory:// service lives inside one process: workers would each hold a different store.
  const inMemory = [store.blobServiceAddr, store.directoryServiceAddr, store.pathInfoServiceAddr].some((addr) => addr?.startsWith('memory:'));
  const grpcListen = optional(values['grpc-listen'] ?? env.NAR_BRIDGE_GRPC_LISTEN, parseGrpcListenAddress);
  const gc = gcSettings(values, env, grpcListen !== null);
  const composition = compositionSettings(values, env);
  // The near cache's read times and eviction live in one process: workers would evict under each other's reads.
  const cached = composition.cacheMaxBytes !== null;
  const workers = Number(values.workers ?? env.NAR_BRIDGE_WORKERS ?? (inMemory || cached ? 1 : availableParallelism()));
  if (!Number.isInteger(workers) || workers < 1) throw new NarBridgeError('NB_ERR_CONFIG', '--workers must be a positive integer');
  if (workers > 1 && inMemory) throw new NarBridgeError('NB_ERR_CONFIG', '--workers above 1 needs services every worker shares; memory:// is per process');
  if (workers > 1 && cached) throw new NarBridgeError('NB_ERR_CONFIG', '--cache-max-size needs --workers 1 for now: one process keeps the cache');
  // GC deletes across one database in one transaction and fences writers through it: the embedded store, or replicas
  // sharing PostgreSQL (PathInfos and Directories at one URL) and S3 (see postgresGcStore). With metadata or objects
  // anywhere else (gRPC, local://, tiers) there is nothing it could collect safely.
  const shared = postgresGcStore(store);
  if (shared && gc.intervalMs !== null && (gc.retention.maxAgeMs !== undefined || gc.retention.maxSizeBytes !== undefined)) {
    throw new NarBridgeError('NB_ERR_CONFIG', '--gc-max-size and --gc-max-age work on the embedded store only; on PostgreSQL, GC reclaims what no path needs');
  }
  const elsewhere = Object.entries({
    '--path-info-service-addr': store.pathInfoServiceAddr,
    '--directory-service-addr': store.directoryServiceAddr,
    '--blob-service-addr': store.blobServiceAddr,
    '--composition': composition.compositionFile,
  }).find(([, value]) => value !== null)?.[0];
  if (gc.intervalMs !== null && elsewhere !== undefined && !(shared && composition.compositionFile === null)) {
    throw new NarBridgeError(
      'NB_ERR_CONFIG',
      `--gc-interval works on the embedded store or on PostgreSQL (path infos and directories at one URL) with s3:// blobs, not with ${elsewhere}: nothing would collect; drop one of them`,
    );
  }
  return {
    listen: parseListenAddress(values.listen ?? env.NAR_BRIDGE_LISTEN ?? '127.0.0.1:9000'),
    ...store,
    priority,
    logLevel,
    logFormat,
    grpcListen,
    grpcTlsCertFile: values['grpc-tls-cert'] || env.NAR_BRIDGE_GRPC_TLS_CERT || null,
    grpcTlsKeyFile: values['grpc-tls-key'] || env.NAR_BRIDGE_GRPC_TLS_KEY || null,
    trust: trustSettings(values, env),
    composition,
    workers,
    gc,
  };
}

/** `values` already completed from the config file (withConfigFile). */
export function storeSettings(values: OptionValues<typeof STORE_OPTIONS>, env: NodeJS.ProcessEnv): StoreSettings {
  return {
    dataDir: values['data-dir'] ?? env.NAR_BRIDGE_DATA_DIR ?? defaultDataDir(env),
    blobServiceAddr: values['blob-service-addr'] ?? env.NAR_BRIDGE_BLOB_SERVICE_ADDR ?? null,
    directoryServiceAddr: values['directory-service-addr'] ?? env.NAR_BRIDGE_DIRECTORY_SERVICE_ADDR ?? null,
    pathInfoServiceAddr: values['path-info-service-addr'] ?? env.NAR_BRIDGE_PATH_INFO_SERVICE_ADDR ?? null,
    grpcClientTokenFile: values['grpc-client-token-file'] || env.NAR_BRIDGE_GRPC_CLIENT_TOKEN_FILE || null,
  };
}

function parseLogFormat(text: string): LogFormat {
  const format = LOG_FORMATS.find((f) => f === text);
  if (!format) throw new NarBridgeError('NB_ERR_CONFIG', `--log-format must be one of ${LOG_FORMATS.join(', ')}`);
  return format;
}

function defaultDataDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'nar-bridge');
}

function optional<T>(text: string | undefined, parse: (text: string) => T): T | null {
  return text === undefined || text === '' ? null : parse(text);
}

/** Whether the services are a store replicas share that GC can collect: PathInfos and Directories in one PostgreSQL database, blobs in S3. */
export function postgresGcStore(store: Pick<StoreSettings, 'pathInfoServiceAddr' | 'directoryServiceAddr' | 'blobServiceAddr'>): boolean {
  const pathInfos = store.pathInfoServiceAddr;
  return pathInfos !== null && isPostgresUrl(pathInfos) && store.directoryServiceAddr === pathInfos && (store.blobServiceAddr?.startsWith('s3:') ?? false);
}
