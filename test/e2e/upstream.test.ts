// Pull-through from an upstream Nix cache, end to end: a signed xz cache made by `nix copy --to file://…`, served by a
// static HTTP server on 127.0.0.1, is nar-bridge's --upstream; real Nix substitutes from nar-bridge.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  hashPart,
  httpRequest,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runNix,
  snapshotTree,
  startServer,
  type Fixtures,
  type NixEnv,
} from './harness.js';

const staticServers: StaticServer[] = [];
afterEach(async () => {
  for (const server of staticServers.splice(0)) await server.stop();
});
afterEach(cleanupE2E);
afterAll(disposeFixtures);

interface StaticServer {
  readonly url: string;
  readonly requests: string[];
  stop(): Promise<void>;
}

/** Serves the files under `root` (GET only); stopped by the test or by cleanup. */
async function serveDirectory(root: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    requests.push(req.url ?? '');
    stat(file).then(
      (st) => {
        res.writeHead(200, { 'content-length': st.size });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  const handle = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, stop };
  staticServers.push(handle);
  return handle;
}

/** A file:// binary cache of `paths`, xz-compressed (Nix's default) and signed with `secretKeyFile`. */
async function fileCache(paths: readonly string[], secretKeyFile: string, env: NixEnv): Promise<string> {
  const dir = await makeTempDir('upstream-cache');
  await runNix(['copy', '--to', `file://${dir}?secret-key=${secretKeyFile}&compression=xz`, ...paths], env);
  return dir;
}

async function copyFrom(url: string, storePaths: readonly string[], fx: Fixtures, env: NixEnv, expectation: 'ok' | 'fail' = 'ok') {
  const store = env.newStore();
  const result = await runNix(['copy', '--from', url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, ...storePaths], env, {
    expect: expectation,
  });
  return { store, result };
}

describe('nar-bridge with an upstream Nix cache', () => {
  test('nix copy --from nar-bridge pulls a signed xz closure through, verified; it still substitutes once the upstream is gone', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const closure = [fx.y, fx.deptree, fx.dep];
    const upstream = await serveDirectory(await fileCache([fx.y], fx.secretKeyFile, fx.env));
    const server = await startServer({
      dataDir: await makeTempDir('upstream-bridge'),
      extraArgs: ['--upstream', `${upstream.url}?trusted-public-keys=${encodeURIComponent(fx.publicKey)}`],
    });

    const { store } = await copyFrom(server.url, [fx.y], fx, env);
    for (const p of closure) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
    expect(upstream.requests.filter((r) => r.endsWith('.nar.xz'))).toHaveLength(3);
    // Served with the upstream's signature (Nix checked it under require-sigs) and our own NAR URL.
    const narinfo = (await httpRequest('GET', `${server.url}/${hashPart(fx.y)}.narinfo`)).body;
    expect(narinfo).toMatch(/^Sig: test-1:/m);
    expect(narinfo).toMatch(/^URL: nar\/tvix-castore\//m);

    await upstream.stop();
    const again = await copyFrom(server.url, [fx.y], fx, env);
    for (const p of closure) expect(await snapshotTree(inChroot(again.store, p)), p).toEqual(await snapshotTree(p));
    const metrics = (await httpRequest('GET', `${server.url}/metrics`)).body;
    expect(metrics).toMatch(new RegExp(`nar_bridge_upstream_lookups_total\\{upstream="${upstream.url}",outcome="hit"\\} 3`));
    expect(metrics).toMatch(/nar_bridge_upstream_bytes_total\{[^}]*\} [1-9]/);
  });

  test('an upstream narinfo signed by a key we do not trust is refused: absent, and no NAR is fetched', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    // Same key name as the trusted one, different key: only the signature check tells them apart.
    const otherSecret = (await runNix(['key', 'generate-secret', '--key-name', 'test-1'], env)).stdout.trim();
    const otherKeyFile = path.join(env.root, 'other-key');
    await writeFile(otherKeyFile, otherSecret, { mode: 0o600 });
    const upstream = await serveDirectory(await fileCache([fx.x], otherKeyFile, fx.env));
    const server = await startServer({
      dataDir: await makeTempDir('upstream-bridge'),
      extraArgs: ['--upstream', `${upstream.url}?trusted-public-keys=${encodeURIComponent(fx.publicKey)}`],
    });

    expect((await httpRequest('GET', `${server.url}/${hashPart(fx.x)}.narinfo`)).status).toBe(404);
    expect(upstream.requests.some((r) => r.startsWith('/nar/'))).toBe(false);
    await copyFrom(server.url, [fx.x], fx, env, 'fail');
    expect(server.logRecords().some((r) => r.msg === 'upstream path refused')).toBe(true);
  });
});
