// End-to-end over tvix gRPC: process A serves its embedded store on --grpc-listen; process B keeps nothing but its
// upload index and uses A's three services. Real Nix pushes to B and substitutes from B and from A.
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  NIX_DEFAULT_TIMEOUT_MS,
  cleanupE2E,
  disposeFixtures,
  freePort,
  hashPart,
  httpRequest,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  runNix,
  runNixTool,
  sha256Base32,
  snapshotTree,
  startServer,
  type Fixtures,
  type NixEnv,
  type ServerHandle,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

interface Pair {
  a: ServerHandle;
  readonly b: ServerHandle;
  readonly aDataDir: string;
  readonly aArgs: readonly string[];
  readonly aPort: number;
}

/** A with --grpc-listen on TCP or a unix socket; B with all three services pointing at A. */
async function startPair(transport: 'tcp' | 'unix'): Promise<Pair> {
  const aDataDir = await makeTempDir('grpc-a');
  const socket = path.join(await makeTempDir('grpc-sock'), 'a.sock');
  const grpcPort = transport === 'tcp' ? await freePort() : 0;
  const listen = transport === 'tcp' ? `127.0.0.1:${grpcPort}` : `unix:${socket}`;
  const serviceUrl = transport === 'tcp' ? `grpc+http://127.0.0.1:${grpcPort}` : `grpc+unix://${socket}`;
  const aArgs = ['--grpc-listen', listen];
  const a = await startServer({ dataDir: aDataDir, extraArgs: aArgs });
  const b = await startServer({
    dataDir: await makeTempDir('grpc-b'),
    extraArgs: ['--blob-service-addr', serviceUrl, '--directory-service-addr', serviceUrl, '--path-info-service-addr', serviceUrl],
  });
  return { a, b, aDataDir, aArgs, aPort: a.port };
}

async function pushSigned(url: string, storePath: string, fx: Fixtures, env: NixEnv, expectation: 'ok' | 'fail' = 'ok') {
  return runNix(['copy', '--to', `${url}?secret-key=${fx.secretKeyFile}`, storePath], env, {
    expect: expectation,
    timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
  });
}

/** Substitutes into a fresh store with signatures required (only fx's key trusted), and compares every file. */
async function pullAndCompare(url: string, storePaths: readonly string[], fx: Fixtures, env: NixEnv): Promise<void> {
  const store = env.newStore();
  await runNix(['copy', '--from', url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, ...storePaths], env, {
    timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
  });
  for (const p of storePaths) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
}

describe.each(['tcp', 'unix'] as const)('nar-bridge B fronting A over gRPC (%s)', (transport) => {
  test('nix copy --to B lands in A; --from B and --from A give the same signed paths', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const { a, b } = await startPair(transport);
    const closure = [fx.y, fx.deptree, fx.dep, fx.tree, fx.hello];

    await pushSigned(b.url, fx.y, fx, env);
    await pushSigned(b.url, fx.tree, fx, env);
    await pushSigned(b.url, fx.hello, fx, env);
    // The PathInfos live in A: A serves them although only B was pushed to.
    for (const p of closure) expect((await httpRequest('GET', `${a.url}/${hashPart(p)}.narinfo`)).status, p).toBe(200);
    // B's narinfo is A's, byte for byte (same PathInfo, same rendering).
    const viaB = await httpRequest('GET', `${b.url}/${hashPart(fx.y)}.narinfo`);
    expect(viaB.body).toBe((await httpRequest('GET', `${a.url}/${hashPart(fx.y)}.narinfo`)).body);

    await pullAndCompare(b.url, closure, fx, env);
    await pullAndCompare(a.url, closure, fx, env);
  });

  test('with A down, B answers narinfo with 5xx and refuses uploads with 4xx; it recovers when A is back', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const pair = await startPair(transport);
    await pushSigned(pair.b.url, fx.hello, fx, env);
    const narinfoUrl = `${pair.b.url}/${hashPart(fx.hello)}.narinfo`;
    const served = await httpRequest('GET', narinfoUrl);
    expect(served.status).toBe(200);

    await pair.a.stop();
    // A narinfo B just served may still come from its short-lived cache; one it never saw must ask A.
    const down = await httpRequest('GET', `${pair.b.url}/${hashPart(fx.tree)}.narinfo`);
    expect(down.status).toBeGreaterThanOrEqual(500);
    expect(down.body.trim()).not.toContain('\n');
    expect(down.body).not.toContain('127.0.0.1'); // the peer's address is for B's log, not for clients
    // Uploads are refused with a 4xx at once (a PUT answered 5xx makes Nix 2.8 retry and hang).
    const nar = (await runNixTool('nix-store', ['--dump', fx.tree], fx.env)).stdoutBytes;
    const narPut = await httpRequest('PUT', `${pair.b.url}/nar/${sha256Base32(nar)}.nar`, nar);
    expect(narPut.status).toBe(403);
    expect(narPut.body.trim()).not.toContain('\n');
    // The narinfo B served, coming back as `nix store sign` sends it: B must consult A, and cannot.
    expect((await httpRequest('PUT', narinfoUrl, served.body, 'text/x-nix-narinfo')).status).toBe(403);

    pair.a = await startServer({ dataDir: pair.aDataDir, extraArgs: pair.aArgs, port: pair.aPort });
    // B's channel reconnects with a short backoff; poll the way a client would retry, on a path B has
    // not cached, until A answers it (absent: 404).
    const unseenUrl = `${pair.b.url}/${hashPart(fx.tree)}.narinfo`;
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status !== 404) {
      status = (await httpRequest('GET', unseenUrl)).status;
      if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(404);
    expect((await httpRequest('GET', narinfoUrl)).status).toBe(200);
    await pushSigned(pair.b.url, fx.tree, fx, env);
    await pullAndCompare(pair.b.url, [fx.tree, fx.hello], fx, env);
  });
});
