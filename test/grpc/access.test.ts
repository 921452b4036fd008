// gRPC access control (src/grpc/access.ts): the tokens file, as Bearer metadata, guards writes (and reads with
// private reads). A real server on 127.0.0.1 and a plain grpc-js client that can send any metadata.
import { Client, credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3, BLOB_METHODS, DIRECTORY_METHODS, type MethodSpec } from '../../src/castore/index.js';
import { startGrpcServer, type GrpcListener } from '../../src/grpc/index.js';
import { AccessTokens } from '../../src/http/index.js';
import { PATH_INFO_METHODS } from '../../src/store/index.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { INFO } from './path-info-fixture.js';

const WRITE = 'write-token-0123456789';
const READ = 'read-token-0123456789';
const TOKENS = AccessTokens.parse(`write ${WRITE}\nread ${READ}\n`);

let listener: GrpcListener | undefined;
let client: Client | undefined;

afterEach(async () => {
  client?.close();
  await listener?.close();
  client = undefined;
  listener = undefined;
});

async function start(privateReads: boolean): Promise<{ refusals: object[] }> {
  const refusals: object[] = [];
  const log = { error: () => undefined, debug: (fields: object) => refusals.push(fields) };
  listener = await startGrpcServer('127.0.0.1:0', { store: servedMemoryStore(), log, access: { tokens: TOKENS, privateReads } });
  client = new Client(`127.0.0.1:${listener.port}`, credentials.createInsecure());
  return { refusals };
}

function metadataWith(token?: string): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

const codeOf = (err: ServiceError | null) => (err ? err.code : Status.OK);
const encoder =
  <Req>(spec: MethodSpec<Req, unknown>) =>
  (value: Req) =>
    Buffer.from(spec.request.encode(value));
const decoder =
  <Res>(spec: MethodSpec<unknown, Res>) =>
  (bytes: Buffer) =>
    spec.response.decode(bytes);

/** The status a unary call ends with. */
function unary<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, token?: string): Promise<Status> {
  return new Promise((resolve) =>
    client?.makeUnaryRequest(spec.path, encoder(spec), decoder(spec), request, metadataWith(token), (err) => resolve(codeOf(err))),
  );
}

/** The status a blob upload of `data` ends with. */
function putBlob(data: Uint8Array, token?: string): Promise<Status> {
  const spec = BLOB_METHODS.put;
  return new Promise((resolve) => {
    const call = client?.makeClientStreamRequest(spec.path, encoder(spec), decoder(spec), metadataWith(token), (err) => resolve(codeOf(err)));
    call?.on('error', () => undefined); // the status arrives through the callback
    call?.write({ data });
    call?.end();
  });
}

/** The status a server-streaming Directory Get ends with. */
function getDirectory(token?: string): Promise<Status> {
  const spec = DIRECTORY_METHODS.get;
  return new Promise((resolve) => {
    const call = client?.makeServerStreamRequest(spec.path, encoder(spec), decoder(spec), { digest: blake3(new Uint8Array([1])).bytes }, metadataWith(token));
    call?.on('data', () => undefined);
    call?.on('status', (status: { code: Status }) => resolve(status.code));
    call?.on('error', () => undefined);
  });
}

describe('gRPC access control', () => {
  it('refuses a write without a token or with a wrong one (UNAUTHENTICATED), and with a read token (PERMISSION_DENIED)', async () => {
    const { refusals } = await start(false);
    const data = new Uint8Array([1, 2, 3]);
    expect(await putBlob(data)).toBe(Status.UNAUTHENTICATED);
    expect(await putBlob(data, 'not-a-token-at-all-000')).toBe(Status.UNAUTHENTICATED);
    expect(await putBlob(data, READ)).toBe(Status.PERMISSION_DENIED);
    expect(await unary(PATH_INFO_METHODS.put, INFO)).toBe(Status.UNAUTHENTICATED);
    expect(refusals).toHaveLength(4);
    // Nothing was written by the refused calls.
    expect(await unary(BLOB_METHODS.stat, { digest: blake3(data).bytes })).toBe(Status.NOT_FOUND);
  });

  it('lets a write token write, and anyone read', async () => {
    await start(false);
    const data = new Uint8Array([4, 5, 6]);
    expect(await putBlob(data, WRITE)).toBe(Status.OK);
    expect(await unary(BLOB_METHODS.stat, { digest: blake3(data).bytes })).toBe(Status.OK);
    expect(await getDirectory()).toBe(Status.NOT_FOUND);
  });

  it('with private reads, reads need a read (or write) token too', async () => {
    await start(true);
    expect(await getDirectory()).toBe(Status.UNAUTHENTICATED);
    expect(await unary(BLOB_METHODS.stat, { digest: blake3(new Uint8Array([9])).bytes })).toBe(Status.UNAUTHENTICATED);
    expect(await getDirectory(READ)).toBe(Status.NOT_FOUND);
    expect(await getDirectory(WRITE)).toBe(Status.NOT_FOUND);
  });
});
