// `serve --grpc-listen` and access control (issue #5): open on a non-loopback address it warns loudly; with
// --tokens-file its Put RPCs need a write token, as the HTTP uploads do.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { BLOB_METHODS, GrpcConnection, grpcEndpointFromUrl } from '../../src/castore/index.js';
import { cleanupE2E, freePort, makeTempDir, startServer } from './harness.js';

afterEach(cleanupE2E);

const warnings = (records: ReadonlyArray<{ level?: unknown; msg?: unknown }>) => records.filter((r) => r.level === 40).map((r) => String(r.msg));

test('an open gRPC listener on a non-loopback address warns loudly', async () => {
  const server = await startServer({ dataDir: await makeTempDir('data'), extraArgs: ['--grpc-listen', `0.0.0.0:${await freePort()}`] });
  await server.stop(); // the process has exited, so everything it logged has arrived
  expect(warnings(server.logRecords()).some((msg) => /NO ACCESS CONTROL on gRPC/.test(msg))).toBe(true);
});

test('with --tokens-file, a gRPC write without a token is refused and nothing is warned', async () => {
  const dir = await makeTempDir('tokens');
  const tokensFile = path.join(dir, 'tokens');
  await writeFile(tokensFile, 'write write-token-0123456789\n', { mode: 0o600 }); // 0600, or serve warns
  const grpcPort = await freePort();
  const server = await startServer({ dataDir: await makeTempDir('data'), extraArgs: ['--tokens-file', tokensFile, '--grpc-listen', `127.0.0.1:${grpcPort}`] });
  const connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${grpcPort}`)));
  try {
    const put = connection.clientStream(BLOB_METHODS.put);
    await put.write({ data: new Uint8Array([1, 2, 3]) });
    const refused = await put.finish().then(
      () => null,
      (err: unknown) => (err instanceof Error ? err.cause : err),
    );
    expect(refused).toMatchObject({ code: Status.UNAUTHENTICATED });
  } finally {
    connection.close();
  }
  await server.stop();
  expect(warnings(server.logRecords())).toEqual([]);
});
