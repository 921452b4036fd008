// The two servers under comparison, on 127.0.0.1: nar-bridge (the real CLI) and nginx serving a `nix copy --to file://`
// cache with sendfile — the "just use static files" reference — plus peak-RSS probes for both.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, removeTree, startServer } from '../test/e2e/harness.js';

export interface BenchServer {
  readonly url: string;
  /**
   * The processes that serve requests, for memory and CPU probes: nar-bridge's process and its workers (the primary
   * hands out connections), nginx's workers but not its master. Read each time: a replaced worker has a new pid.
   */
  servingPids(): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * nginx gets as many workers as nar-bridge (--workers, default 1: like for like per core, the other core left to the
 * load generator — wrk, curl, nix — on this 2-core machine).
 */
const NGINX_READY_TIMEOUT_MS = 10_000;
const NGINX_READY_POLL_MS = 20;
export const CPU_PROF_DIR_ENV = 'NB_BENCH_CPU_PROF_DIR';
const PROFILED_ENTRY = path.join(import.meta.dirname, 'cpu-profiled-nar-bridge.js');

/**
 * nar-bridge on a fresh or existing data dir. Logging at warn: per-request info lines would measure pino, and nginx
 * runs with access_log off.
 */
export async function startBridge(dataDir: string, workers: number): Promise<BenchServer> {
  // run.ts sets this for --cpu-prof; the variable also tells the profiled entry where to write.
  const profiled = process.env[CPU_PROF_DIR_ENV] !== undefined;
  const extraArgs = ['--log-level', 'warn', '--workers', String(workers)];
  const handle = await startServer({ dataDir, extraArgs, ...(profiled ? { entry: PROFILED_ENTRY } : {}) });
  const pid = handle.process.pid;
  if (pid === undefined) throw new Error('nar-bridge has no pid');
  return { url: handle.url, servingPids: async () => [pid, ...(await childPids(pid))], stop: () => handle.stop() };
}

/**
 * `count` nar-bridge servers on empty data dirs under `workDir`, started together before anything is timed: a start
 * takes seconds of mostly waiting, and measurements that need an empty store would otherwise pay it one by one.
 * stop() also removes the data dir.
 */
export async function startFreshBridges(workDir: string, count: number, workers: number): Promise<BenchServer[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const dataDir = await mkdtemp(path.join(workDir, 'fresh-bridge-'));
      const bridge = await startBridge(dataDir, workers);
      return {
        ...bridge,
        async stop() {
          await bridge.stop();
          await removeTree(dataDir);
        },
      };
    }),
  );
}

function nginxConfig(root: string, prefix: string, port: number, workers: number): string {
  const temp = (name: string) => `${name}_temp_path ${path.join(prefix, name)};`;
  return `daemon off;
master_process on;
worker_processes ${workers};
user root root;
pid ${path.join(prefix, 'nginx.pid')};
error_log ${path.join(prefix, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; text/x-nix-cache-info nix-cache-info; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
}

/** nginx serving `root` (a file:// binary cache) as static files. */
export async function startNginx(root: string, workDir: string, workers: number): Promise<BenchServer> {
  const prefix = path.join(workDir, 'nginx');
  await mkdir(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(conf, nginxConfig(root, prefix, port, workers));
  const child = spawn('nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  let exited = false;
  const closed = once(child, 'close').finally(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + NGINX_READY_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`nginx exited before serving:\n${stderr}`);
    const status = await fetch(`${url}/nix-cache-info`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx not serving ${root}/nix-cache-info within ${NGINX_READY_TIMEOUT_MS} ms (status ${status}):\n${stderr}`);
    }
    await sleep(NGINX_READY_POLL_MS);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('nginx has no pid');
  const children = await childPids(pid);
  if (children.length !== workers) throw new Error(`expected ${workers} nginx workers, found ${children.join(' ')}`);
  return {
    url,
    servingPids: () => childPids(pid),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await closed;
    },
  };
}

async function childPids(pid: number): Promise<number[]> {
  return (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The sum of each serving process's peak resident set size (VmHWM) since its start or the last resetPeakRss. */
export async function peakRssBytes(server: BenchServer): Promise<number> {
  let sum = 0;
  for (const pid of await server.servingPids()) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    if (!m?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
    sum += Number(m[1]) * 1024;
  }
  return sum;
}

/** Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)), so each phase gets its own peak. */
export async function resetPeakRss(server: BenchServer): Promise<void> {
  for (const pid of await server.servingPids()) await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/**
 * CPU seconds the serving processes (or only their main threads) have used so far: the sum over their threads of schedstat's time on a CPU, in
 * nanoseconds (/proc/PID/stat's clock ticks are too coarse for a smoke run's few milliseconds).
 */
export async function cpuSeconds(server: BenchServer, mainThreadOnly = false): Promise<number> {
  let ns = 0;
  for (const pid of await server.servingPids()) {
    for (const tid of mainThreadOnly ? [String(pid)] : await readdir(`/proc/${pid}/task`)) {
      const stat = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0'); // a thread may just have ended
      ns += Number(stat.split(' ')[0]);
    }
  }
  return ns / 1e9;
}
