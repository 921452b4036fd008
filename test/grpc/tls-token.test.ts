// Our gRPC clients reaching a protected store: a token per service URL (?token-file=, sent as Bearer metadata)
// and TLS (grpc+https://, verified against ?ca-file= or the system CAs), against our server serving TLS.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blake3, blobServiceFromUrl, directoryServiceFromUrl, type BlobService, type OpenedService } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { startGrpcServer, type GrpcListener } from '../../src/grpc/index.js';
import { AccessTokens } from '../../src/http/index.js';
import { servedMemoryStore } from '../store/memory-store.js';
import { makeTestCa, readTls, type TestCa } from './test-ca.js';

const WRITE = 'write-token-0123456789';
const READ = 'read-token-0123456789';

let ca: TestCa;
let listener: GrpcListener;
const store = servedMemoryStore();
const tokenFile = (name: string) => join(ca.dir, name);

beforeAll(async () => {
  ca = await makeTestCa();
  await writeFile(tokenFile('write'), `${WRITE}\n`);
  await writeFile(tokenFile('read'), READ);
  await writeFile(tokenFile('bad'), 'two tokens\n');
  const access = { tokens: AccessTokens.parse(`write ${WRITE}\nread ${READ}\n`), privateReads: true };
  listener = await startGrpcServer('127.0.0.1:0', { store, log: { error: () => undefined, debug: () => undefined }, access, tls: await readTls(ca) });
});
afterAll(async () => {
  await listener.close();
  await ca.remove();
});

async function withBlobs<T>(url: string, use: (blobs: BlobService) => Promise<T>): Promise<T> {
  const opened: OpenedService<BlobService> = await blobServiceFromUrl(url);
  try {
    return await use(opened.service);
  } finally {
    opened.close();
  }
}

async function upload(blobs: BlobService, data: Uint8Array) {
  const writer = blobs.openWrite();
  await writer.write(data);
  return writer.close();
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (err: unknown) => (NarBridgeError.is(err) ? { code: err.code, cause: (err.cause as { code?: number } | undefined)?.code } : err),
  );

describe('gRPC client over TLS with a token', () => {
  it.each(['127.0.0.1', 'localhost'])('writes and reads with a write token, verified against ca-file (%s)', async (host) => {
    const url = `grpc+https://${host}:${listener.port}?ca-file=${ca.caFile}&token-file=${tokenFile('write')}`;
    const data = new TextEncoder().encode(`over TLS via ${host}`);
    await withBlobs(url, async (blobs) => {
      expect((await upload(blobs, data)).equals(blake3(data))).toBe(true);
      const read = await blobs.openRead(blake3(data));
      const pieces: Uint8Array[] = [];
      for await (const piece of read ?? []) pieces.push(piece);
      expect(Buffer.concat(pieces)).toEqual(Buffer.from(data));
    });
    expect(await store.blobs.has(blake3(data))).toBe(true);
  });

  it('a read token reads but may not write (PERMISSION_DENIED); no token may not even read (UNAUTHENTICATED)', async () => {
    const data = new TextEncoder().encode('read token');
    const readUrl = `grpc+https://127.0.0.1:${listener.port}?ca-file=${ca.caFile}&token-file=${tokenFile('read')}`;
    await withBlobs(readUrl, async (blobs) => {
      expect(await blobs.has(blake3(data))).toBe(false);
      expect(await failure(upload(blobs, data))).toMatchObject({ code: 'NB_ERR_UPSTREAM', cause: 7 });
    });
    await withBlobs(`grpc+https://127.0.0.1:${listener.port}?ca-file=${ca.caFile}`, async (blobs) => {
      expect(await failure(blobs.has(blake3(data)))).toMatchObject({ code: 'NB_ERR_UPSTREAM', cause: 16 });
    });
  });

  it('refuses a server whose certificate the given CA did not sign, and plaintext against a TLS server', async () => {
    const digest = blake3(new Uint8Array([1]));
    for (const url of [
      `grpc+https://127.0.0.1:${listener.port}?ca-file=${ca.otherCaFile}&token-file=${tokenFile('read')}`,
      `grpc+https://127.0.0.1:${listener.port}?token-file=${tokenFile('read')}`, // system CAs do not know ours
      `grpc+http://127.0.0.1:${listener.port}?token-file=${tokenFile('read')}`,
    ]) {
      const opened = await directoryServiceFromUrl(url);
      try {
        expect(await failure(opened.service.get(digest)), url).toMatchObject({ code: 'NB_ERR_UPSTREAM', cause: 14 });
      } finally {
        opened.close();
      }
    }
  }, 20_000);

  it('rejects token and CA files it cannot use at startup, without echoing a file', async () => {
    const base = `grpc+https://127.0.0.1:${listener.port}`;
    for (const url of [
      `${base}?token-file=${tokenFile('bad')}`,
      `${base}?token-file=${tokenFile('absent')}`,
      `${base}?token-file=relative/token`,
      `${base}?ca-file=${tokenFile('absent')}`,
      `grpc+http://127.0.0.1:1?ca-file=${ca.caFile}`,
      `${base}?token-file=${tokenFile('read')}&token-file=${tokenFile('write')}`,
      `${base}?insecure=1`,
    ]) {
      const err = await failure(blobServiceFromUrl(url));
      expect(err, url).toMatchObject({ code: 'NB_ERR_CONFIG' });
    }
    const err = await blobServiceFromUrl(`${base}?token-file=${tokenFile('bad')}`).catch((e: unknown) => e);
    expect(String(err)).not.toContain('two tokens');
  });
});
