// End-to-end over tvix gRPC: process A serves its embedded store on --grpc-listen; process B keeps nothing but its
// upload index and uses A's three services. Real Nix pushes to B and substitutes from B and from A.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { GrpcBlobService, GrpcConnection, grpcEndpointFromUrl } from '../../src/castore/index.js';
import { fingerprintPath, generateSigningKey, NixHash, Signature, StorePath } from '../../src/nix/index.js';
import { GrpcPathInfoService } from '../../src/store/index.js';
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
    // Each service has its own channels, which reconnect on their own backoff: the blob channels may still be
    // waiting when the path info one answers. A user retries a refused push; so does this, for up to 15 s.
    const pushDeadline = Date.now() + 15_000;
    for (;;) {
      try {
        await pushSigned(pair.b.url, fx.tree, fx, env);
        break;
      } catch (err) {
        if (Date.now() > pushDeadline || !(err instanceof Error && err.message.includes('UNAVAILABLE'))) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    await pullAndCompare(pair.b.url, [fx.tree, fx.hello], fx, env);
  });
});

// Regression (issue 10): `serve` handed gRPC the bare local store, so a Put of a 1-byte file claiming NarSize 999
// and an invented NarHash was stored, and HTTP then served it signed with the cache's key.
describe('serve --grpc-listen: gRPC writes meet the checks HTTP uploads do', () => {
  test('a forged PathInfo is refused over gRPC and never served; a forged signature under our key name is not served', async () => {
    const dir = await makeTempDir('grpc-key');
    const key = generateSigningKey('cache-1');
    const keyFile = path.join(dir, 'cache.sec');
    await writeFile(keyFile, String(key), { mode: 0o600 });
    const grpcPort = await freePort();
    const server = await startServer({
      dataDir: await makeTempDir('grpc-checks'),
      extraArgs: ['--grpc-listen', `127.0.0.1:${grpcPort}`, '--signing-key-file', keyFile],
    });
    const connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${grpcPort}`)));
    try {
      const writer = new GrpcBlobService(connection).openWrite();
      await writer.write(new Uint8Array([0x41]));
      const node = { kind: 'file', digest: await writer.close(), size: 1, executable: false } as const;
      const pathInfos = new GrpcPathInfoService(connection);
      const storePath = StorePath.parseBasename('7r1prhqk1w9qykcclfckkcww64ax9341-one-byte');
      const forged = { storePath, node, references: [], narHash: NixHash.parse(`sha256:${'0'.repeat(52)}`), narSize: 999, signatures: [] };
      const refused = await pathInfos.put(forged).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toMatchObject({ cause: { code: Status.INVALID_ARGUMENT, details: expect.stringMatching(/NarSize 999/) } });
      const narinfoUrl = `${server.url}/${storePath.hashPart}.narinfo`;
      expect((await httpRequest('GET', narinfoUrl)).status).toBe(404);

      const facts = await pathInfos.calculateNar(node);
      const honest = { ...forged, narHash: NixHash.fromDigest('sha256', facts.narSha256), narSize: facts.narSize };
      await pathInfos.put({ ...honest, signatures: [Signature.fromParts('cache-1', new Uint8Array(64).fill(7))] });
      const served = await httpRequest('GET', narinfoUrl);
      expect(served.status).toBe(200);
      const fingerprint = fingerprintPath(storePath, honest.narHash, honest.narSize, []);
      expect(served.body.match(/^Sig: .*$/gm)).toEqual([`Sig: ${String(key.sign(fingerprint))}`]);
    } finally {
      connection.close();
    }
  });
});
