// Fault injection against a real `nar-bridge serve` process (issue #5): client disconnects, kill -9 mid-push,
// concurrent pushes of one closure, and a full disk (a real 8 MiB tmpfs).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readdir, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { openLocalStore } from '../../src/cli/open-store.js';
import { planNar } from '../../src/store/index.js';
import {
  cleanupE2E,
  disposeFixtures,
  hashPart,
  httpRequest,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  nixBase32,
  nixEnv,
  REPO_ROOT,
  runCommand,
  runNix,
  runNixTool,
  startServer,
  type NixEnv,
  type ServerHandle,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

/**
 * Every PathInfo in the data dir renders to a NAR whose sha256 and size are its NarHash and NarSize: all its
 * Directories and blobs are present and hold the right bytes. Returns the store paths checked.
 */
async function checkEveryPathInfo(dataDir: string): Promise<string[]> {
  const local = await openLocalStore(dataDir);
  const checked: string[] = [];
  try {
    for await (const info of local.store.pathInfos.list()) {
      const plan = await planNar(info.node, local.store);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of plan.stream()) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
      expect(size, info.storePath.basename).toBe(info.narSize);
      expect(Buffer.from(hash.digest()).equals(Buffer.from(info.narHash.digest)), info.storePath.basename).toBe(true);
      checked.push(info.storePath.basename);
    }
  } finally {
    local.close();
  }
  return checked;
}

/** Sends request headers and the first `sendBytes` of a body announced as `contentLength` bytes; returns the socket. */
async function partialPut(server: ServerHandle, url: string, contentLength: number, body: Uint8Array): Promise<net.Socket> {
  const socket = net.connect(server.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`PUT ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-nix-nar\r\nContent-Length: ${contentLength}\r\n\r\n`);
  socket.write(body);
  return socket;
}

/** Resolves once the server's output matches `pattern` (polled: the output arrives through a pipe). */
async function logged(server: ServerHandle, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(server.logs())) {
    if (Date.now() > deadline) throw new Error(`server never logged ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Bytes in the data dir's pack files. */
async function packBytes(dataDir: string): Promise<number> {
  const dir = path.join(dataDir, 'packs');
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function narOf(storePath: string, env: NixEnv): Promise<Buffer> {
  return (await runNixTool('nix-store', ['--dump', storePath], env)).stdoutBytes;
}

const sha256Base32 = (bytes: Uint8Array) => nixBase32(createHash('sha256').update(bytes).digest());

function push(url: string, storePath: string, env: NixEnv, expect: 'ok' | 'fail' | 'any' = 'ok') {
  return runNix(['copy', '--to', url, storePath], env, { expect });
}

/**
 * Pushes of one closure by several clients at once. Nix 2.7/2.8 itself sometimes aborts one of two concurrent
 * `nix copy --to` runs with "error: coroutine has finished" (NixOS/nix#6417, a client bug seen against file:// and S3
 * caches too, and again when retried while the other copy still runs). What this file tests is the server, so a client
 * that died of that bug alone pushes again once the others are done.
 */
async function pushConcurrently(url: string, storePath: string, envs: readonly NixEnv[]): Promise<void> {
  const results = await Promise.allSettled(envs.map((env) => push(url, storePath, env)));
  for (const [i, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    const err: unknown = result.reason;
    if (!(err instanceof Error && err.message.includes('error: coroutine has finished'))) throw err;
    const env = envs[i];
    if (env) await push(url, storePath, env);
  }
}

describe('faults', () => {
  test('a client that disconnects mid-upload leaves no upload record and no PathInfo; the server keeps serving', async () => {
    const fx = await makeFixtures();
    const dataDir = await makeTempDir('data');
    const server = await startServer({ dataDir });
    const nar = await narOf(fx.tree, fx.env);
    const fileHash = sha256Base32(nar);
    const socket = await partialPut(server, `/nar/${fileHash}.nar`, nar.length, nar.subarray(0, nar.length >> 1));
    socket.destroy();
    await once(socket, 'close');
    // The server sees the abort asynchronously; a HEAD that finds the record would be a bug however long we wait,
    // so poll a few times for the opposite outcome (a 404 must persist).
    for (let i = 0; i < 5; i++) expect((await httpRequest('HEAD', `${server.url}/nar/${fileHash}.nar`)).status).toBe(404);
    expect((await httpRequest('GET', `${server.url}/${hashPart(fx.tree)}.narinfo`)).status).toBe(404);
    await push(server.url, fx.tree, fx.env);
    await server.stop();
    expect(await checkEveryPathInfo(dataDir)).toEqual([path.basename(fx.tree)]);
  });

  test('kill -9 during a push, then restart: every PathInfo is complete and a repeat push succeeds', { timeout: 240_000 }, async () => {
    const fx = await makeFixtures();
    const large = await makeLargePath(16);
    const env = await nixEnv();
    const dataDir = await makeTempDir('data');
    const first = await startServer({ dataDir });
    const pushing = push(first.url, fx.y, env, 'any');
    // Kill once the first NAR is stored, i.e. in the middle of the closure's uploads.
    await logged(first, /NAR ingested/);
    await first.kill9();
    await pushing;
    // Killed mid-NAR too: a large upload cut off by the crash.
    const second = await startServer({ dataDir, port: first.port });
    // Uncompressed, so the client is not busy with xz and the kill lands while the NAR streams in.
    const largePush = push(`${second.url}?compression=none`, large, env, 'any');
    await logged(second, /"method":"HEAD","url":"\/nar\//);
    await second.kill9();
    await largePush;
    await checkEveryPathInfo(dataDir);

    const third = await startServer({ dataDir });
    await push(third.url, fx.y, env);
    // zstd: Nix's default xz spends tens of seconds on 16 MiB of random bytes on a loaded 2-core machine.
    await push(`${third.url}?compression=zstd`, large, env);
    await third.stop();
    const checked = await checkEveryPathInfo(dataDir);
    for (const p of [fx.y, fx.dep, fx.deptree, large]) expect(checked).toContain(path.basename(p));
  });

  test('kill -9 while a big upload is being appended to a pack: the store reopens, serves what was committed, verifies clean, and the push retries', {
    timeout: 240_000,
  }, async () => {
    const fx = await makeFixtures();
    const large = await makeLargePath(32);
    const env = await nixEnv();
    const dataDir = await makeTempDir('data');
    const first = await startServer({ dataDir });
    await push(first.url, fx.y, env);
    const committed = await packBytes(dataDir);
    const pushing = push(`${first.url}?compression=none`, large, env, 'any');
    // Mid-write: the big NAR's chunks are landing in the pack, well before its narinfo could be committed.
    await waitFor(async () => (await packBytes(dataDir)) > committed + 4 * 1024 * 1024, 'the pack to grow by 4 MiB');
    await first.kill9();
    await pushing;

    const second = await startServer({ dataDir });
    await runNix(['copy', '--from', second.url, '--to', env.newStore(), '--no-check-sigs', fx.y], env);
    await push(`${second.url}?compression=none`, large, env);
    await second.stop();
    const verify = await runCommand('node', [path.join(REPO_ROOT, 'bin', 'nar-bridge.js'), 'verify', '--data-dir', dataDir], process.env, { expect: 'any' });
    expect(verify.stderr).toMatch(/0 damaged objects, 0 broken paths/);
    expect(verify.code).toBe(0);
    const checked = await checkEveryPathInfo(dataDir);
    for (const p of [fx.y, fx.dep, fx.deptree, large]) expect(checked).toContain(path.basename(p));
  });

  test('two clients pushing the same closure at once both succeed, with one consistent PathInfo per path', async () => {
    const fx = await makeFixtures();
    const dataDir = await makeTempDir('data');
    const server = await startServer({ dataDir });
    const [a, b] = await Promise.all([nixEnv(), nixEnv()]);
    await pushConcurrently(server.url, fx.y, [a, b]);
    await runNix(['copy', '--from', server.url, '--to', a.newStore(), '--no-check-sigs', fx.y], a);
    await server.stop();
    expect((await checkEveryPathInfo(dataDir)).sort()).toEqual([fx.y, fx.deptree, fx.dep].map((p) => path.basename(p)).sort());
  });

  test('a full disk refuses the push cleanly (no hang, no PathInfo) and reads keep working', { timeout: 120_000 }, async () => {
    const fx = await makeFixtures();
    const large = await makeLargePath(16);
    const mountPoint = await makeTempDir('tmpfs');
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], process.env);
    try {
      const dataDir = path.join(mountPoint, 'data');
      await mkdir(dataDir);
      const server = await startServer({ dataDir });
      await push(server.url, fx.hello, fx.env);
      // Uncompressed: the client's xz of 16 MiB takes most of a minute on a loaded CI machine.
      const refused = await push(`${server.url}?compression=none`, large, fx.env, 'fail');
      expect(refused.stderr).toMatch(/HTTP error 403|no space|storage/i);
      expect((await httpRequest('GET', `${server.url}/${hashPart(large)}.narinfo`)).status).toBe(404);
      expect((await httpRequest('GET', `${server.url}/${hashPart(fx.hello)}.narinfo`)).status).toBe(200);
      await runNix(['copy', '--from', server.url, '--to', fx.env.newStore(), '--no-check-sigs', fx.hello], fx.env);
      await server.stop();
      expect(await checkEveryPathInfo(dataDir)).toEqual([path.basename(fx.hello)]);
    } finally {
      await runCommand('umount', ['-l', mountPoint], process.env, { expect: 'any' });
    }
  });
});
