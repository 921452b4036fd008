// The two servers under comparison, on 127.0.0.1: nar-bridge (the real CLI) and nginx serving a `nix copy --to file://`
// cache with sendfile — the "just use static files" reference — plus peak-RSS probes for both.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, removeTree, startServer } from '../test/e2e/harness.js';

export interface BenchServer {
  readonly url: string;
  /** The process that serves requests, for memory probes (nginx: its one worker, not the master). */
  readonly servingPid: number;
  stop(): Promise<void>;
}

/**
 * One nginx worker against nar-bridge's one event loop: like for like per core, and the other core is left to the
 * load generator (wrk, curl, nix) on this 2-core machine.
 */
const NGINX_WORKERS = 1;
const NGINX_READY_TIMEOUT_MS = 10_000;
const NGINX_READY_POLL_MS = 20;
export const CPU_PROF_DIR_ENV = 'NB_BENCH_CPU_PROF_DIR';
const PROFILED_ENTRY = path.join(import.meta.dirname, 'cpu-profiled-nar-bridge.js');

/**
 * nar-bridge on a fresh or existing data dir. Logging at warn: per-request info lines would measure pino, and nginx
 * runs with access_log off.
 */
export async function startBridge(dataDir: string): Promise<BenchServer> {
  // run.ts sets this for --cpu-prof; the variable also tells the profiled entry where to write.
  const profiled = process.env[CPU_PROF_DIR_ENV] !== undefined;
  const handle = await startServer({ dataDir, extraArgs: ['--log-level', 'warn'], ...(profiled ? { entry: PROFILED_ENTRY } : {}) });
  const pid = handle.process.pid;
  if (pid === undefined) throw new Error('nar-bridge has no pid');
  return { url: handle.url, servingPid: pid, stop: () => handle.stop() };
}

/**
 * `count` nar-bridge servers on empty data dirs under `workDir`, started together before anything is timed: a start
 * takes seconds of mostly waiting, and measurements that need an empty store would otherwise pay it one by one.
 * stop() also removes the data dir.
 */
export async function startFreshBridges(workDir: string, count: number): Promise<BenchServer[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const dataDir = await mkdtemp(path.join(workDir, 'fresh-bridge-'));
      const bridge = await startBridge(dataDir);
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

function nginxConfig(root: string, prefix: string, port: number): string {
  const temp = (name: string) => `${name}_temp_path ${path.join(prefix, name)};`;
  return `daemon off;
master_process on;
worker_processes ${NGINX_WORKERS};
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
export async function startNginx(root: string, workDir: string): Promise<BenchServer> {
  const prefix = path.join(workDir, 'nginx');
  await mkdir(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(conf, nginxConfig(root, prefix, port));
  const child = spawn('nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  let exited = false;
  const closed = once(child, 'close').finally(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + NGINX_READY_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`nginx exited before serving:\n${stderr}`);
    const status = await fetch(`${url}/nix-cache-info`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx not serving ${root}/nix-cache-info within ${NGINX_READY_TIMEOUT_MS} ms (status ${status}):\n${stderr}`);
    }
    await sleep(NGINX_READY_POLL_MS);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('nginx has no pid');
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
  const worker = children[0];
  if (children.length !== NGINX_WORKERS || worker === undefined) throw new Error(`expected ${NGINX_WORKERS} nginx worker, found ${children.join(' ')}`);
  return {
    url,
    servingPid: worker,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/** Peak resident set size (VmHWM) of a process since its start or the last resetPeakRss. */
export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!m?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)), so each phase gets its own peak. */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}
