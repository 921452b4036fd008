// Hostile and wrong requests against our gRPC server: each gets its proper status with a reason, never a crash.
import { status as Status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BLOB_METHODS,
  DIRECTORY_METHODS,
  DirectoryBuilder,
  PathComponent,
  blake3,
  encodeDirectory,
  type Codec,
  type Directory,
  type MethodSpec,
} from '../../src/castore/index.js';
import { tvix } from '../../src/proto/index.js';
import { PATH_INFO_METHODS, encodePathInfo } from '../../src/store/index.js';
import { INFO } from './path-info-fixture.js';
import { sharedDag } from '../castore/directory-service-suite.js';
import { startLoopback, type Loopback } from './loopback.js';

const RAW: Codec<Uint8Array> = { encode: (bytes) => bytes, decode: (bytes) => bytes };

/** The same method, but sending and receiving bytes as they are, so tests can send what our encoders never would. */
function raw<Req, Res>(spec: MethodSpec<Req, Res>): MethodSpec<Uint8Array, Uint8Array> {
  return { ...spec, request: RAW, response: RAW };
}

/** The gRPC status a call ended with (the client keeps the status object as the error's cause). */
async function statusOf(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  const cause = err instanceof Error ? err.cause : undefined;
  if (typeof cause !== 'object' || cause === null || !('code' in cause) || !('details' in cause)) {
    throw new Error(`expected a failed gRPC call, got ${String(err)}`);
  }
  return { code: Number(cause.code), details: String(cause.details) };
}

async function drain(source: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of source) n++;
  return n;
}

const DIGEST_31 = new Uint8Array(31);
const directoryNode = (d: Directory) => ({ kind: 'directory' as const, digest: d.digest(), size: d.size });

let loopback: Loopback;
afterEach(async () => {
  expect(loopback.errors, 'the server logged no internal errors').toEqual([]);
  await loopback.close();
});

describe('BlobService bad input', () => {
  it('Stat and Read of a wrong-length digest are INVALID_ARGUMENT', async () => {
    loopback = await startLoopback('tcp');
    const stat = await statusOf(loopback.connection.unary(BLOB_METHODS.stat, { digest: DIGEST_31 }));
    expect(stat.code).toBe(Status.INVALID_ARGUMENT);
    expect(stat.details).toMatch(/32 bytes/);
    const read = await statusOf(drain(loopback.connection.serverStream(BLOB_METHODS.read, { digest: DIGEST_31 })));
    expect(read.code).toBe(Status.INVALID_ARGUMENT);
  });

  it('Stat and Read of a missing blob are NOT_FOUND', async () => {
    loopback = await startLoopback('tcp');
    const digest = blake3(new Uint8Array([7])).bytes;
    expect((await statusOf(loopback.connection.unary(BLOB_METHODS.stat, { digest, sendChunks: true }))).code).toBe(Status.NOT_FOUND);
    expect((await statusOf(loopback.connection.unary(BLOB_METHODS.stat, { digest }))).code).toBe(Status.NOT_FOUND);
    expect((await statusOf(drain(loopback.connection.serverStream(BLOB_METHODS.read, { digest })))).code).toBe(Status.NOT_FOUND);
  });

  it('a message that is not protobuf is INVALID_ARGUMENT', async () => {
    loopback = await startLoopback('tcp');
    const garbage = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]); // field 1, length far past the end
    expect((await statusOf(loopback.connection.unary(raw(BLOB_METHODS.stat), garbage))).code).toBe(Status.INVALID_ARGUMENT);
    const put = loopback.connection.clientStream(raw(BLOB_METHODS.put));
    await put.write(garbage);
    expect((await statusOf(put.finish())).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('Put answers the blake3 of the bytes received and Read streams them in bounded messages', async () => {
    loopback = await startLoopback('tcp');
    const data = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    const put = loopback.connection.clientStream(BLOB_METHODS.put);
    await put.write({ data: data.subarray(0, 1000) });
    await put.write({ data: data.subarray(1000) });
    const digest = (await put.finish()).digest ?? new Uint8Array();
    expect(Buffer.from(digest).toString('hex')).toBe(blake3(data).toHex());
    const sizes: number[] = [];
    for await (const chunk of loopback.connection.serverStream(BLOB_METHODS.read, { digest })) sizes.push(chunk.data?.byteLength ?? 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024 * 1024);
    expect(sizes.length).toBeGreaterThan(3);
  });
});

describe('DirectoryService bad input', () => {
  const put = async (messages: readonly Uint8Array[]) => {
    const call = loopback.connection.clientStream(raw(DIRECTORY_METHODS.put));
    for (const message of messages) await call.write(message);
    return call.finish();
  };

  it('Get of a wrong-length digest is INVALID_ARGUMENT, of a missing one NOT_FOUND (also recursive)', async () => {
    loopback = await startLoopback('unix');
    const get = (digest: Uint8Array, recursive: boolean) => drain(loopback.connection.serverStream(DIRECTORY_METHODS.get, { digest, recursive }));
    expect((await statusOf(get(DIGEST_31, false))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await statusOf(get(sharedDag().root.digest().bytes, false))).code).toBe(Status.NOT_FOUND);
    expect((await statusOf(get(sharedDag().root.digest().bytes, true))).code).toBe(Status.NOT_FOUND);
  });

  it('Get recursive sends root first, each directory once, each after one that refers to it', async () => {
    loopback = await startLoopback('tcp');
    const { leaf, a, b, root } = sharedDag();
    const putter = loopback.store.directories.putter();
    for (const d of [leaf, a, b, root]) await putter.put(d);
    await putter.close();
    const got: string[] = [];
    for await (const d of loopback.connection.serverStream(DIRECTORY_METHODS.get, { digest: root.digest().bytes, recursive: true })) {
      got.push(d.digest().toHex());
    }
    expect(got).toEqual([root, a, b, leaf].map((d) => d.digest().toHex()));
  });

  it('Put of unsorted or duplicate names is INVALID_ARGUMENT', async () => {
    loopback = await startLoopback('tcp');
    const file = (name: string) => ({ name: Buffer.from(name), digest: blake3(Buffer.from(name)).bytes, size: 1 });
    const unsorted = tvix.castore.v1.Directory.encode({ files: [file('b'), file('a')] }).finish();
    const duplicate = tvix.castore.v1.Directory.encode({ files: [file('a')], symlinks: [{ name: Buffer.from('a'), target: Buffer.from('x') }] }).finish();
    const badDigest = tvix.castore.v1.Directory.encode({ files: [{ name: Buffer.from('a'), digest: DIGEST_31 }] }).finish();
    for (const message of [unsorted, duplicate, badDigest]) {
      const status = await statusOf(put([message]));
      expect(status.code).toBe(Status.INVALID_ARGUMENT);
      expect(status.details.length).toBeGreaterThan(0);
    }
  });

  it('Put in the wrong order (root before its child) is FAILED_PRECONDITION and stores nothing', async () => {
    loopback = await startLoopback('tcp');
    const { leaf, a } = sharedDag();
    const status = await statusOf(put([encodeDirectory(a), encodeDirectory(leaf)]));
    expect(status.code).toBe(Status.FAILED_PRECONDITION);
    expect(status.details).toContain(leaf.digest().toHex());
    expect(await loopback.store.directories.get(a.digest())).toBeNull();
  });

  it('Put with a wrong child size is FAILED_PRECONDITION; a valid stream answers its root digest', async () => {
    loopback = await startLoopback('tcp');
    const { leaf } = sharedDag();
    const liar = new DirectoryBuilder().add(PathComponent.fromString('x'), { ...directoryNode(leaf), size: 99 }).build();
    expect((await statusOf(put([encodeDirectory(leaf), encodeDirectory(liar)]))).code).toBe(Status.FAILED_PRECONDITION);
    const { a } = sharedDag();
    const answer = tvix.castore.v1.PutDirectoryResponse.decode(await put([encodeDirectory(leaf), encodeDirectory(a)]));
    expect(Buffer.from(answer.rootDigest).toString('hex')).toBe(a.digest().toHex());
  });
});

describe('PathInfoService bad input', () => {
  it('Get needs a 20-byte output hash: INVALID_ARGUMENT otherwise, NOT_FOUND when absent', async () => {
    loopback = await startLoopback('tcp');
    const get = (byOutputHash: Uint8Array) => statusOf(loopback.connection.unary(PATH_INFO_METHODS.get, { byOutputHash }));
    expect((await get(new Uint8Array(32))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await get(new Uint8Array(0))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await get(new Uint8Array(20))).code).toBe(Status.NOT_FOUND);
  });

  it('Put of a PathInfo pointing at a missing directory is FAILED_PRECONDITION and stores nothing', async () => {
    loopback = await startLoopback('tcp');
    const status = await statusOf(loopback.connection.unary(raw(PATH_INFO_METHODS.put), encodePathInfo(INFO)));
    expect(status.code).toBe(Status.FAILED_PRECONDITION);
    expect(await loopback.store.pathInfos.get(INFO.storePath.digest)).toBeNull();
  });

  it('Put of a PathInfo without a root node, or with a bad store path name, is INVALID_ARGUMENT', async () => {
    loopback = await startLoopback('tcp');
    const noNode = tvix.store.v1.PathInfo.encode({ narinfo: { narSize: 1, narSha256: new Uint8Array(32) } }).finish();
    const badName = tvix.store.v1.PathInfo.encode({
      node: { symlink: { name: Buffer.from('not-a-store-path'), target: Buffer.from('/x') } },
      narinfo: { narSize: 1, narSha256: new Uint8Array(32) },
    }).finish();
    for (const message of [noNode, badName, new Uint8Array([0xff])]) {
      expect((await statusOf(loopback.connection.unary(raw(PATH_INFO_METHODS.put), message))).code).toBe(Status.INVALID_ARGUMENT);
    }
  });

  it('CalculateNAR of a graph that is not stored is FAILED_PRECONDITION', async () => {
    loopback = await startLoopback('tcp');
    const status = await statusOf(loopback.pathInfos.calculateNar(INFO.node));
    expect(status.code).toBe(Status.FAILED_PRECONDITION);
  });
});
