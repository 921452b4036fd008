// serve --workers 2: the workers share one store, so what is pushed or signed through one is served by the other at
// once, and a worker killed mid-push leaves no half-written path behind and is replaced. A request's worker is told
// by the pid on its access-log line (found by the X-Request-Id it was sent with); each request opens its own
// connection, so the primary's round-robin spreads them.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, expect, test, vi } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  handMadeUpload,
  hashPart,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  nixEnv,
  REPO_ROOT,
  runCommand,
  runNix,
  startServer,
  type ServerHandle,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

interface Answer {
  readonly pid: number;
  readonly status: number;
  readonly body: string;
}

/** A request over a fresh connection; the pid of the worker that answered, from its access-log line. */
async function request(server: ServerHandle, path: string, put?: Uint8Array | string): Promise<Answer> {
  const id = `workers-${randomUUID()}`;
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    http
      .request(`${server.url}${path}`, { method: put === undefined ? 'GET' : 'PUT', agent: false, headers: { 'x-request-id': id } }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (chunk: string) => (body += chunk))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject)
      .end(put);
  });
  const pid = await vi.waitFor(() => {
    const line = server.logRecords().find((r) => r.reqId === id && typeof r.pid === 'number');
    if (!line) throw new Error(`no access-log line for ${id} yet`);
    return Number(line.pid);
  });
  return { pid, status, body };
}

/** Asks until two different workers have answered; every answer is returned. */
async function fromBothWorkers(server: ServerHandle, path: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < 20 && new Set(answers.map((a) => a.pid)).size < 2; i++) answers.push(await request(server, path));
  expect(new Set(answers.map((a) => a.pid)).size).toBe(2);
  return answers;
}

function workerPids(server: ServerHandle): number[] {
  return server
    .logRecords()
    .filter((r) => r.msg === 'nar-bridge listening' && typeof r.worker === 'number')
    .map((r) => Number(r.pid));
}

test('a path pushed through the workers is served by each, and a signature added through one is served by both at once', async () => {
  const fx = await makeFixtures();
  const env = await nixEnv();
  const server = await startServer({ dataDir: await makeTempDir('workers'), extraArgs: ['--workers', '2'] });
  await vi.waitFor(() => expect(workerPids(server)).toHaveLength(2), { timeout: 20_000 });
  await runNix(['copy', '--to', server.url, fx.x], env);
  const narinfo = `/${hashPart(fx.x)}.narinfo`;

  // Both workers now hold the unsigned narinfo in their caches.
  const before = await fromBothWorkers(server, narinfo);
  expect(before.map((a) => a.status)).toEqual(before.map(() => 200));
  expect(before.every((a) => !a.body.includes('Sig:'))).toBe(true);

  // nix store sign re-PUTs the narinfo through one worker; the next read on either must carry the signature.
  await runNix(['store', 'sign', '--store', server.url, '--key-file', fx.secretKeyFile, fx.x], env);
  const after = await fromBothWorkers(server, narinfo);
  expect(after.map((a) => a.body.match(/^Sig: (\S+)$/m)?.[1]?.split(':')[0])).toEqual(after.map(() => 'test-1'));

  // The aggregated /metrics counts the narinfo reads of both workers.
  const metrics = await request(server, '/metrics');
  const reads = metrics.body.match(/^nar_bridge_http_requests_total\{method="GET",route="\/:hash\.narinfo",status="200"\} (\d+)$/m)?.[1];
  expect(Number(reads)).toBeGreaterThanOrEqual(before.length + after.length);
  await server.stop();
}, 60_000);

test('a NAR PUT through one worker is completed by its narinfo PUT through the other', async () => {
  const fx = await makeFixtures();
  const server = await startServer({ dataDir: await makeTempDir('workers-upload'), extraArgs: ['--workers', '2'] });
  await vi.waitFor(() => expect(workerPids(server)).toHaveLength(2), { timeout: 20_000 });
  const { nar, fileHash, narInfo } = await handMadeUpload(fx, fx.hello);
  const narPut = await request(server, `/nar/${fileHash}.nar`, nar);
  expect(narPut.status).toBe(204);
  // Connections go round-robin: once one lands on the NAR's worker, the next goes to the other.
  for (let i = 0; i < 10 && (await request(server, '/nix-cache-info')).pid !== narPut.pid; i++);
  const infoPut = await request(server, `/${hashPart(fx.hello)}.narinfo`, narInfo);
  expect(infoPut.pid).not.toBe(narPut.pid);
  expect(infoPut.status).toBe(204);
  const served = await fromBothWorkers(server, `/${hashPart(fx.hello)}.narinfo`);
  expect(served.map((a) => a.status)).toEqual(served.map(() => 200));
  await server.stop();
}, 60_000);

test('workers killed with -9 during a push leave no half-written path, and are replaced', async () => {
  const large = await makeLargePath(48);
  const env = await nixEnv();
  const server = await startServer({ dataDir: await makeTempDir('workers-kill'), extraArgs: ['--workers', '2'] });
  await vi.waitFor(() => expect(workerPids(server)).toHaveLength(2), { timeout: 20_000 });
  const killed = workerPids(server);

  // Uncompressed, so the upload starts at once rather than after Nix has xz'd it.
  const push = runNix(['copy', '--to', `${server.url}?compression=none`, large], env, { expect: 'any' });
  // Both are killed, so the one receiving the NAR is among them, whichever it was.
  await vi.waitFor(async () => expect((await request(server, '/metrics')).body).toMatch(/^nar_bridge_uploads_in_flight [1-9]/m), {
    timeout: 20_000,
    interval: 50,
  });
  for (const pid of killed) process.kill(pid, 'SIGKILL');
  await push;

  await vi.waitFor(() => expect(workerPids(server).filter((pid) => !killed.includes(pid))).toHaveLength(2), { timeout: 30_000 });
  // Either the path never made it, or it is whole: its NAR must download and match its NarHash.
  const narinfo = await request(server, `/${hashPart(large)}.narinfo`);
  expect([200, 404]).toContain(narinfo.status);
  await runNix(['copy', '--to', `${server.url}?compression=none`, large], env);
  await runNix(['store', 'verify', '--no-trust', '--sigs-needed', '0', '--store', server.url, large], env);
  await server.stop();
}, 60_000);

test('workers that cannot start stop the server, with their exit status and reason', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const args = [
      path.join(REPO_ROOT, 'bin', 'nar-bridge.js'),
      'serve',
      '--workers',
      '2',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      await makeTempDir('workers-busy'),
    ];
    const result = await runCommand(process.execPath, args, process.env, { expect: 'fail', timeoutMs: 30_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}: address already in use`);
  } finally {
    taken.close();
  }
}, 40_000);
