// End-to-end: B fronts an A that serves gRPC over TLS and wants a token for every call (--private-reads). B trusts
// A's CA through ?ca-file= and presents its token (?token-file= on one URL, --grpc-client-token-file for the
// others); real Nix pushes to B and substitutes from it. A B without the token gets nothing from A.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { makeTestCa } from '../grpc/test-ca.js';
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
  snapshotTree,
  startServer,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

test('B fronting a token-protected A over TLS: nix copy --to B lands in A, --from B gives the same paths', async () => {
  const ca = await makeTestCa();
  try {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const secrets = await makeTempDir('grpc-tls-secrets');
    const token = 'b-fronts-a-0123456789abcdef';
    const tokensFile = path.join(secrets, 'tokens');
    const tokenFile = path.join(secrets, 'token');
    await writeFile(tokensFile, `write ${token}\n`);
    await writeFile(tokenFile, `${token}\n`);
    const grpcPort = await freePort();
    await startServer({
      dataDir: await makeTempDir('grpc-tls-a'),
      extraArgs: [
        '--grpc-listen',
        `127.0.0.1:${grpcPort}`,
        '--grpc-tls-cert',
        ca.certFile,
        '--grpc-tls-key',
        ca.keyFile,
        '--tokens-file',
        tokensFile,
        '--private-reads',
      ],
    });
    const a = `grpc+https://localhost:${grpcPort}?ca-file=${encodeURIComponent(ca.caFile)}`;
    const b = await startServer({
      dataDir: await makeTempDir('grpc-tls-b'),
      extraArgs: [
        '--blob-service-addr',
        `${a}&token-file=${encodeURIComponent(tokenFile)}`,
        '--directory-service-addr',
        a,
        '--path-info-service-addr',
        a,
        '--grpc-client-token-file',
        tokenFile,
      ],
    });
    const tokenless = await startServer({
      dataDir: await makeTempDir('grpc-tls-c'),
      extraArgs: ['--blob-service-addr', a, '--directory-service-addr', a, '--path-info-service-addr', a],
    });

    await runNix(['copy', '--to', `${b.url}?secret-key=${fx.secretKeyFile}`, fx.tree, fx.hello], env, { timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
    const store = env.newStore();
    await runNix(['copy', '--from', b.url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, fx.tree, fx.hello], env, {
      timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
    });
    for (const p of [fx.tree, fx.hello]) expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));

    // Without the token A refuses every call: the narinfo B would serve is a one-line 5xx naming no peer.
    const refused = await httpRequest('GET', `${tokenless.url}/${hashPart(fx.hello)}.narinfo`);
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(refused.body).not.toContain(token);
    expect((await httpRequest('GET', `${b.url}/${hashPart(fx.hello)}.narinfo`)).status).toBe(200);
  } finally {
    await ca.remove();
  }
});
