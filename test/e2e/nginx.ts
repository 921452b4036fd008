// nginx in front of replicas, round-robin, configured as the README's scaling-out example: bodies streamed both
// ways (no request or response buffering) and no body size limit, so a NAR PUT reaches a replica as Nix sends it.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, makeTempDir, onCleanup } from './harness.js';

const READY_TIMEOUT_MS = 10_000;

export interface ProxiedRequest {
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  /** `127.0.0.1:PORT` of the replica that answered. */
  readonly upstream: string;
}

export interface Nginx {
  readonly url: string;
  /** Every request answered so far, from nginx's access log. */
  requests(): Promise<ProxiedRequest[]>;
}

function config(dir: string, port: number, upstreams: readonly string[]): string {
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  // Workers as the test's own user (root in E2E runs): they may need the temp dirs inside our 0700 temp dir.
  return `user root;
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  log_format replicas '$request_method $request_uri $status $upstream_addr';
  access_log ${dir}/access.log replicas;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream replicas {
${servers}
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`;
}

export async function startNginx(upstreams: readonly string[]): Promise<Nginx> {
  const dir = await makeTempDir('nginx');
  await mkdir(path.join(dir, 'tmp'));
  const port = await freePort();
  await writeFile(path.join(dir, 'nginx.conf'), config(dir, port, upstreams));
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async requests() {
      const log = await readFile(path.join(dir, 'access.log'), 'utf8').catch(() => '');
      return log
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [method = '', uri = '', status = '', upstream = ''] = line.split(' ');
          return { method, uri, status: Number(status), upstream };
        });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
