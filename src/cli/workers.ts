// serve --workers N: a primary process forks N workers that each run the whole server (HTTP and gRPC) on the same
// listening sockets and data dir, so requests use every core. The primary serves nothing itself: it prepares the store
// once, replaces a worker that dies, relays each worker's PathInfo puts to the others' caches, aggregates /metrics,
// and stops them all on SIGTERM.
//
// Why the store stays coherent: SQLite (WAL, busy timeout) serialises writes between processes, and PathInfo puts
// merge signatures inside their transaction (store/pathinfo/overwrite.ts); the upload index lives there too, so a NAR
// PUT on one worker and its narinfo PUT on another meet. Each worker appends to pack files of its own (pack_files
// names the owner's pid; recovery only seals packs whose owner is dead). Schema migrations and the move of a
// file-per-blob data dir run once, in the primary, before any worker opens the store, so they never race.
import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { PathInfoCachePeers } from '../store/index.js';
import { openLocalStore } from './open-store.js';
import { prettyLogStream } from './pretty-log.js';
import { openStoreOverrides } from './service-overrides.js';
import type { ServeSettings } from './settings.js';
import { prepareDataDir } from './startup-checks.js';

/** A worker that lived this long was not crash-looping: the next one starts at once. */
const STABLE_AFTER_MS = 10_000;
/** Restart delays after quick deaths double from the first up to the last. */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
/** A put waits at most this long for the other workers to drop their cached copy (a hung worker must not hang puts). */
const FORGET_TIMEOUT_MS = 2_000;

/** Messages between workers and the primary; `nb` keeps them apart from prom-client's own. */
type Message =
  | { readonly nb: 'ready' }
  | { readonly nb: 'changed'; readonly seq: number; readonly digest: string } // worker → primary
  | { readonly nb: 'forget'; readonly seq: number; readonly origin: number; readonly digest: string } // primary → others
  | { readonly nb: 'forgot'; readonly seq: number; readonly origin: number } // other → primary
  | { readonly nb: 'forgotten'; readonly seq: number } // primary → origin
  | { readonly nb: 'metrics'; readonly seq: number; readonly text?: string; readonly error?: string };

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && 'nb' in value;
}

/** What a worker process needs from the cluster; null when this process serves alone. */
export interface ClusterWorker {
  readonly id: number;
  readonly cachePeers: PathInfoCachePeers;
  /** Answers the primary's collections from `registry`; returns what /metrics serves: every worker's together. */
  metricsOf(registry: Registry): () => Promise<string>;
  /** Tells the primary this worker is listening. */
  ready(): void;
}

export function isClusterPrimary(settings: ServeSettings): boolean {
  return settings.workers > 1 && cluster.isPrimary;
}

/** Joins the cluster when this process is a worker. */
function clusterWorker(): ClusterWorker | null {
  const worker = cluster.worker;
  if (!cluster.isWorker || !worker) return null;
  // prom-client answers the primary's collection requests once an AggregatorRegistry exists (registries: metricsOf).
  AggregatorRegistry.setRegistries([]);
  new AggregatorRegistry();
  let seq = 0;
  const waiting = new Map<number, (message: Message) => void>();
  let forget: (digest: Uint8Array) => void = () => undefined;
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.nb === 'forget') {
      forget(Buffer.from(message.digest, 'hex'));
      send({ nb: 'forgot', seq: message.seq, origin: message.origin });
    } else if (message.nb === 'forgotten' || message.nb === 'metrics') {
      waiting.get(message.seq)?.(message);
    }
  });
  const ask = (message: Message & { seq: number }, timeoutMs: number) =>
    new Promise<Message | null>((resolve) => {
      const timer = setTimeout(() => settle(null), timeoutMs);
      const settle = (answer: Message | null) => {
        clearTimeout(timer);
        waiting.delete(message.seq);
        resolve(answer);
      };
      waiting.set(message.seq, settle);
      send(message);
    });
  const member: ClusterWorker = {
    id: worker.id,
    cachePeers: {
      changed: async (digest) => {
        await ask({ nb: 'changed', seq: ++seq, digest: Buffer.from(digest).toString('hex') }, FORGET_TIMEOUT_MS);
      },
      subscribe: (handler) => {
        forget = handler;
      },
    },
    metricsOf: (registry) => {
      AggregatorRegistry.setRegistries([registry]);
      return async () => {
        // prom-client gives up on a worker after 5 s; a little longer here so its error is the one reported.
        const answer = await ask({ nb: 'metrics', seq: ++seq }, 6_000);
        if (answer?.nb !== 'metrics' || answer.text === undefined)
          throw new Error(`cannot collect the workers' metrics: ${answer?.nb === 'metrics' ? answer.error : 'no answer'}`);
        return answer.text;
      };
    },
    ready: () => send({ nb: 'ready' }),
  };
  return member;
}

/**
 * Runs `serve` with this process's place in the cluster (null: serving alone). A worker then leaves the cluster, done
 * or failed, so its channel to the primary stops keeping it alive and it exits with serve's exit code.
 * (worker.disconnect() marks that as intended; a bare process.disconnect() makes Node exit at once with 0.)
 */
export async function asWorker(serve: (worker: ClusterWorker | null) => Promise<number>): Promise<number> {
  const member = clusterWorker();
  try {
    return await serve(member);
  } finally {
    cluster.worker?.disconnect();
  }
}

function send(message: Message): void {
  process.send?.(message);
}

/** SIGTERM or SIGINT. (A worker whose primary dies is exited at once by Node's cluster module.) */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

/**
 * The primary: prepares the store, runs `settings.workers` workers until SIGTERM or SIGINT, then stops them and
 * waits for each to drain. A worker that dies is replaced, after a backoff when they keep dying quickly; if the first
 * dies before serving, the configuration cannot serve, and its exit code is returned.
 */
export async function superviseWorkers(settings: ServeSettings): Promise<number> {
  const log = primaryLog(settings);
  await prepareStore(settings);
  // Round-robin (Node's default on Linux, made explicit): the primary accepts and hands each connection to the next
  // worker. With SCHED_NONE the kernel picks whichever worker wakes first; measured with wrk -c32 on keep-alive
  // connections both spread about evenly (56/44 vs 44/56) at the same rate, but round-robin stays even for clients
  // that open few connections. NODE_CLUSTER_SCHED_POLICY=none still overrides it.
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
  const metrics = new AggregatorRegistry();
  const started = new Map<Worker, number>();
  /** Per put being relayed (origin:seq): the workers still to forget it. */
  const relays = new Map<string, { readonly origin: Worker; readonly seq: number; readonly remaining: Set<number> }>();
  let stopping = false;
  let anyReady = false;
  let readyCount = 0;
  let quickDeaths = 0;
  let restart: NodeJS.Timeout | null = null;
  let failedStart: ((code: number) => void) | null = null;
  const failedToStart = new Promise<number>((resolve) => {
    failedStart = resolve;
  });

  const finishRelay = (key: string) => {
    const relay = relays.get(key);
    if (!relay || relay.remaining.size > 0) return;
    relays.delete(key);
    if (relay.origin.isConnected()) relay.origin.send({ nb: 'forgotten', seq: relay.seq } satisfies Message);
  };
  const fork = () => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (!isMessage(message)) return;
      if (message.nb === 'ready') {
        if (!anyReady) {
          anyReady = true;
          for (let i = 1; i < settings.workers; i++) fork();
        }
        if (++readyCount === settings.workers) log('info', { workers: settings.workers }, 'nar-bridge workers running');
      } else if (message.nb === 'changed') {
        const key = `${worker.id}:${message.seq}`;
        const others = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w !== worker && w.isConnected());
        relays.set(key, { origin: worker, seq: message.seq, remaining: new Set(others.map((w) => w.id)) });
        for (const other of others) other.send({ nb: 'forget', seq: message.seq, origin: worker.id, digest: message.digest } satisfies Message);
        finishRelay(key);
      } else if (message.nb === 'forgot') {
        const key = `${message.origin}:${message.seq}`;
        relays.get(key)?.remaining.delete(worker.id);
        finishRelay(key);
      } else if (message.nb === 'metrics') {
        metrics.clusterMetrics().then(
          (text) => worker.isConnected() && worker.send({ nb: 'metrics', seq: message.seq, text } satisfies Message),
          (err: unknown) => worker.isConnected() && worker.send({ nb: 'metrics', seq: message.seq, error: String(err) } satisfies Message),
        );
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    // A dead worker forgets nothing more: puts waiting on it go on.
    for (const [key, relay] of relays) {
      relay.remaining.delete(worker.id);
      finishRelay(key);
    }
    if (stopping) return;
    if (!anyReady) {
      log('error', { worker: worker.id, code, signal }, 'a worker exited before serving; stopping');
      failedStart?.(typeof code === 'number' && code !== 0 ? code : 1);
      return;
    }
    readyCount = Math.max(0, readyCount - 1);
    quickDeaths = lived < STABLE_AFTER_MS ? quickDeaths + 1 : 0;
    const delayMs = quickDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (quickDeaths - 1));
    log('error', { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker exited; starting another');
    restart = setTimeout(() => {
      restart = null;
      if (!stopping) fork();
    }, delayMs);
  });

  log('info', { workers: settings.workers, pid: process.pid }, 'starting workers');
  // One first: a configuration that cannot serve (a port in use, a bad key) fails once, with one reason, and the
  // rest then start together.
  fork();
  const outcome = await Promise.race([stopSignal().then((signal) => ({ signal })), failedToStart.then((code) => ({ code }))]);
  stopping = true;
  if (restart) clearTimeout(restart);
  const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  if ('signal' in outcome) log('info', { signal: outcome.signal, workers: running.length }, 'shutting down');
  await Promise.all(
    running.map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    ),
  );
  if ('code' in outcome) return outcome.code;
  log('info', { workers: running.length }, 'workers stopped');
  return 0;
}

/**
 * Opens the store once and closes it: schema migrations, pack recovery and the move of an old data dir happen here,
 * one process at a time, so workers opening it together find nothing left to change.
 */
async function prepareStore(settings: ServeSettings): Promise<void> {
  await prepareDataDir(settings.dataDir);
  const overrides = await openStoreOverrides(settings);
  try {
    await (await openLocalStore(settings.dataDir, overrides.services)).close();
  } finally {
    overrides.close();
  }
}

type Level = 'info' | 'error';
const LEVELS: Record<Level, number> = { info: 30, error: 50 };
const THRESHOLDS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** The primary's few lines, in the workers' format (pino's JSON lines, or those made pretty). */
function primaryLog(settings: ServeSettings): (level: Level, fields: object, msg: string) => void {
  const pretty = (settings.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
  const out = pretty ? prettyLogStream(process.stdout) : process.stdout;
  const threshold = THRESHOLDS[settings.logLevel] ?? LEVELS.info;
  return (level, fields, msg) => {
    if (LEVELS[level] < threshold) return;
    out.write(`${JSON.stringify({ level: LEVELS[level], time: Date.now(), pid: process.pid, hostname: hostname(), component: 'primary', ...fields, msg })}\n`);
  };
}
