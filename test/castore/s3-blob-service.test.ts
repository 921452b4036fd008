// The BlobService conformance suite on a real S3 server (radosgw in CI), with the object index in SQLite and in
// PostgreSQL, plus what only the pack-object layout shows: durability at flush, roll-over, coalesced and verified reads.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blake3,
  blobServiceFromUrl,
  chunkingParams,
  openDatabase,
  openS3BlobService,
  parseS3Url,
  PostgresDatabase,
  PostgresPackObjectIndex,
  S3BlobService,
  S3Bucket,
  SqlitePackObjectIndex,
  type BlobService,
  type BlobWriter,
  type PackObjectIndex,
} from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { describeBlobService, patternBytes, readAll } from './blob-service-suite.js';
import { describePostgres, useTestDatabase } from './postgres-fixture.js';
import { describeS3, useTestBucket } from './s3-fixture.js';

const SMALL = chunkingParams(16 * 1024);

async function put(blobs: BlobService, data: Uint8Array) {
  const writer = blobs.openWrite();
  if (data.byteLength > 0) await writer.write(data);
  return writer.close();
}

/** A bucket that counts its ranged GETs. */
class CountingBucket extends S3Bucket {
  reads = 0;
  override read(...args: Parameters<S3Bucket['read']>): ReturnType<S3Bucket['read']> {
    this.reads++;
    return super.read(...args);
  }
}

interface Replica {
  readonly service: S3BlobService;
  readonly bucket: CountingBucket;
}

/**
 * Writes go to `writer` and are flushed at close; reads come from `reader`, another service over the same bucket and
 * index: so every read the suite makes is a ranged GET of what a flush uploaded.
 */
function flushedThroughReplica(writer: S3BlobService, reader: S3BlobService): BlobService {
  return {
    has: (d, o) => reader.has(d, o),
    chunks: (d, o) => reader.chunks(d, o),
    openRead: (d, o) => reader.openRead(d, o),
    readMany: (b, o) => reader.readMany(b, o),
    flush: (o) => writer.flush(o),
    openWrite: (o) => {
      const inner = writer.openWrite(o);
      return {
        write: (c) => inner.write(c),
        abort: (r) => inner.abort(r),
        close: async () => {
          const digest = await inner.close();
          await writer.flush();
          return digest;
        },
      } satisfies BlobWriter;
    },
  };
}

describeS3('S3BlobService', () => {
  const bucket = useTestBucket('blobs');
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nar-bridge-s3-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Two replicas over one fresh prefix and one SQLite index. */
  async function replicas(index?: PackObjectIndex, options: { packTargetBytes?: number } = {}) {
    const url = new URL(bucket.freshUrl());
    const sqlite = index ? null : openDatabase(join(await mkdtemp(join(dir, 'idx-')), 'meta.sqlite'));
    const shared = index ?? new SqlitePackObjectIndex(sqlite!);
    const make = (): Replica => {
      const b = new CountingBucket(parseS3Url(url));
      return { bucket: b, service: new S3BlobService(b, shared, { spoolDir: join(dir, 'spool'), chunking: SMALL, ...options }) };
    };
    const [a, b] = [make(), make()];
    return {
      a,
      b,
      url,
      cleanup: async () => {
        await a.service.close();
        await b.service.close();
        a.bucket.close();
        b.bucket.close();
        sqlite?.close();
      },
    };
  }

  describeBlobService('s3, spool reads (SQLite index)', async () => {
    const { a, cleanup } = await replicas();
    return { service: a.service, cleanup };
  });

  describeBlobService('s3, flushed and read by another replica (SQLite index)', async () => {
    const { a, b, cleanup } = await replicas();
    return { service: flushedThroughReplica(a.service, b.service), cleanup };
  });

  it('makes a blob durable only at flush: another replica sees it then, read from one object', async () => {
    const { a, b, url, cleanup } = await replicas();
    try {
      const small = patternBytes(1000, 1);
      const big = patternBytes(300_000, 2);
      const [ds, db] = [await put(a.service, small), await put(a.service, big)];
      expect(await a.service.has(db)).toBe(true);
      expect(await b.service.has(ds)).toBe(false);
      expect(await b.service.openRead(db)).toBeNull();
      await a.service.flush();
      expect(Buffer.from((await readAll(await b.service.openRead(ds)))!).equals(small)).toBe(true);
      expect(Buffer.from((await readAll(await b.service.openRead(db)))!).equals(big)).toBe(true);
      expect((await b.service.chunks(db))!.length).toBeGreaterThan(1);
      const prefix = url.pathname.slice(1);
      expect(await bucket.keys(`${prefix}/`)).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });

  it('rolls a large ingest over into several objects, uploaded while writing goes on', async () => {
    const { a, b, url, cleanup } = await replicas(undefined, { packTargetBytes: 256 * 1024 });
    try {
      const data = patternBytes(2 * 1024 * 1024, 3);
      const digest = await put(a.service, data);
      await a.service.flush();
      const prefix = url.pathname.slice(1);
      expect((await bucket.keys(`${prefix}/`)).length).toBeGreaterThanOrEqual(6);
      expect(Buffer.from((await readAll(await b.service.openRead(digest)))!).equals(data)).toBe(true);
      expect(Buffer.from((await readAll(await b.service.openRead(digest, { offset: 1_500_000 })))!).equals(data.subarray(1_500_000))).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it('reads neighbouring small blobs with one ranged GET (readMany)', async () => {
    const { a, b, cleanup } = await replicas();
    try {
      const blobs = Array.from({ length: 50 }, (_, i) => patternBytes(2000 + i, 100 + i));
      const digests = [];
      for (const blob of blobs) digests.push(await put(a.service, blob));
      await a.service.flush();
      const got = await b.service.readMany(digests.map((digest, i) => ({ digest, size: blobs[i]!.byteLength })));
      expect(got.map((g, i) => Buffer.from(g!).equals(blobs[i]!))).toEqual(blobs.map(() => true));
      expect(b.bucket.reads).toBe(1);
      const missing = blake3(new Uint8Array([9, 9, 9]));
      expect(await b.service.readMany([{ digest: missing, size: 3 }])).toEqual([null]);
    } finally {
      await cleanup();
    }
  });

  it('refuses bytes the bucket changed: a read of a damaged object fails, never returns them', async () => {
    const { a, b, url, cleanup } = await replicas();
    try {
      const data = patternBytes(5000, 4);
      const digest = await put(a.service, data);
      await a.service.flush();
      const [key] = await bucket.keys(`${url.pathname.slice(1)}/`);
      const object = await bucket.client().send(new GetObjectCommand({ Bucket: bucket.name(), Key: key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      bytes[bytes.length - 10]! ^= 0xff;
      await bucket.client().send(new PutObjectCommand({ Bucket: bucket.name(), Key: key, Body: bytes }));
      const err = await readAll(await b.service.openRead(digest)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(NarBridgeError.is(err) && err.code === 'NB_ERR_STORAGE' && /damaged: payload checksum mismatch/.test(err.message)).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it('fails a flush cleanly while S3 is unreachable, keeps the blob readable, and commits it at a later flush', async () => {
    const { cleanup } = await replicas();
    const down = new S3BlobService(
      new S3Bucket(parseS3Url(new URL('s3://nowhere/x?endpoint=http://127.0.0.1:9&path-style=true'))),
      new SqlitePackObjectIndex(openDatabase(join(await mkdtemp(join(dir, 'down-')), 'meta.sqlite'))),
      { spoolDir: join(dir, 'spool') },
    );
    try {
      const data = patternBytes(3000, 5);
      const digest = await put(down, data);
      const err = await down.flush().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(NarBridgeError.is(err) && err.code === 'NB_ERR_STORAGE').toBe(true);
      expect((err as Error).message).toMatch(/^S3 s3:\/\/nowhere\/x\?.*: upload packs\/[0-9a-f]{64}\.pack failed: ECONNREFUSED$/);
      expect(Buffer.from((await readAll(await down.openRead(digest)))!).equals(data)).toBe(true);
      // The same service against a reachable bucket is covered above; here the pack stays queued for the next flush.
      await expect(down.flush()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await down.close();
      await cleanup();
    }
  }, 30_000);

  it('opens from an s3:// URL, checking the bucket first', async () => {
    const db = openDatabase(join(await mkdtemp(join(dir, 'url-')), 'meta.sqlite'));
    const context = { index: new SqlitePackObjectIndex(db), spoolDir: join(dir, 'spool') };
    const opened = await openS3BlobService(new URL(bucket.freshUrl()), context);
    const digest = await put(opened.service, patternBytes(10, 6));
    await opened.service.flush();
    expect(await opened.service.has(digest)).toBe(true);
    opened.close();
    const missing = new URL(bucket.freshUrl());
    missing.hostname = 'no-such-bucket-here';
    await expect(openS3BlobService(missing, context)).rejects.toThrow(/cannot use the bucket: S3 .*: reach the bucket failed: 404/);
    await expect(blobServiceFromUrl('s3://bucket/x')).rejects.toThrow(/no service for scheme s3:/);
    expect(() => parseS3Url(new URL('s3://key:secret@bucket/x'))).toThrow(/takes no credentials/);
    expect(() => parseS3Url(new URL('s3://bucket/x?endpoint=ftp://x'))).toThrow(/endpoint must be/);
    db.close();
  });

  describePostgres('with the index in PostgreSQL', () => {
    const database = useTestDatabase('s3index');
    const pgReplicas = async () => {
      const db = await PostgresDatabase.open(new URL(await database.freshSchemaUrl()));
      const r = await replicas(await PostgresPackObjectIndex.open(db));
      return {
        ...r,
        cleanup: async () => {
          await r.cleanup();
          await db.close();
        },
      };
    };

    describeBlobService('s3, flushed and read by another replica (PostgreSQL index)', async () => {
      const { a, b, cleanup } = await pgReplicas();
      return { service: flushedThroughReplica(a.service, b.service), cleanup };
    });

    it('commits two replicas storing the same blob once, both readable', async () => {
      const { a, b, cleanup } = await pgReplicas();
      try {
        const data = patternBytes(200_000, 8);
        await Promise.all([put(a.service, data), put(b.service, data)]);
        await Promise.all([a.service.flush(), b.service.flush()]);
        for (const s of [a, b]) expect(Buffer.from((await readAll(await s.service.openRead(blake3(data))))!).equals(data)).toBe(true);
      } finally {
        await cleanup();
      }
    });
  });
});

describe('S3 URLs', () => {
  it('take the bucket, a prefix and client settings; nothing secret', () => {
    const loc = parseS3Url(new URL('s3://my-bucket/some/prefix/?endpoint=http://127.0.0.1:7480&region=eu-west-1&path-style=true'));
    expect(loc.bucket).toBe('my-bucket');
    expect(loc.prefix).toBe('some/prefix/');
    expect(loc.config).toMatchObject({
      endpoint: 'http://127.0.0.1:7480',
      region: 'eu-west-1',
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    expect(parseS3Url(new URL('s3://my-bucket')).prefix).toBe('');
    expect(() => parseS3Url(new URL('s3://my-bucket/x?part-size=1'))).toThrow(/unknown parameter 'part-size'/);
  });
});
