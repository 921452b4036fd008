// A NAR download whose blob read fails once the answer has started: before any body byte went out the client gets
// a readable one-line 500 (no Content-Encoding, length or range of the abandoned NAR); after, the connection is cut
// so the client sees a truncated answer, never one that ends as if complete.
import { randomBytes } from 'node:crypto';
import { get, type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { B3Digest, BlobService, BlobWriter, CallOptions, ChunkMeta, ReadOptions } from '../../src/castore/index.js';
import { buildServer } from '../../src/http/index.js';
import { castoreNarPath, composeStore, ingestNar } from '../../src/store/index.js';
import { nar, str } from '../nar/nar-bytes.js';
import { memoryStore } from '../store/memory-store.js';

/** Large enough that every encoder has sent bytes before the failure: zstd holds back its first few MiB. */
const FILE_BYTES = 8 * 1024 * 1024;

/** Serves its inner blobs until told to fail: then every read breaks after `failAfter` bytes. */
class BreakingBlobs implements BlobService {
  failAfter: number | null = null;

  constructor(private readonly inner: BlobService) {}

  has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    return this.inner.has(digest, opts);
  }
  chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return this.inner.chunks(digest, opts);
  }
  openWrite(opts?: CallOptions): BlobWriter {
    return this.inner.openWrite(opts);
  }
  flush(opts?: CallOptions): Promise<void> {
    return this.inner.flush(opts);
  }
  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    const source = await this.inner.openRead(digest, opts);
    const failAfter = this.failAfter;
    if (!source || failAfter === null) return source;
    return (async function* () {
      let sent = 0;
      for await (const chunk of source) {
        const take = Math.min(chunk.byteLength, failAfter - sent);
        if (take > 0) yield chunk.subarray(0, take);
        sent += take;
        if (sent >= failAfter) throw new Error('pack read failed');
      }
    })();
  }
}

interface Outcome {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** False when the connection was cut before the answer's end. */
  readonly complete: boolean;
}

/** A GET with no decoding, reporting a cut connection instead of failing on it. */
function outcome(url: string, headers: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
    }).on('error', reject);
  });
}

let app: FastifyInstance;
let base: string;
let blobs: BreakingBlobs;
let narUrl: string;

beforeEach(async () => {
  const store = memoryStore();
  blobs = new BreakingBlobs(store.blobs);
  const bytes = nar('nix-archive-1', '(', 'type', 'regular', 'contents', str(randomBytes(FILE_BYTES)), ')');
  const { node, narSize } = await ingestNar(Readable.from([bytes]), { blobs, directories: store.directories });
  app = await buildServer({ store: composeStore({ ...store, blobs }, {}), priority: 40 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  narUrl = `${base}/${castoreNarPath(node, narSize)}`;
});

afterEach(async () => {
  await app.close();
});

describe('a NAR whose blob read fails mid-answer', () => {
  it.each([['zstd'], ['br'], ['gzip'], ['none']])('before any body byte went out (%s): a readable one-line 500', async (coding) => {
    blobs.failAfter = 0;
    const res = await outcome(narUrl, coding === 'none' ? {} : { 'accept-encoding': coding });
    expect(res.status).toBe(500);
    expect(res.complete).toBe(true);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['content-range']).toBeUndefined();
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['content-length']).toBe(String(res.body.byteLength));
    expect(res.body.toString()).toBe('internal error\n');
  });

  it.each([['zstd'], ['br'], ['gzip'], ['none']])('after body bytes went out (%s): the connection is cut', async (coding) => {
    blobs.failAfter = FILE_BYTES - 1;
    const res = await outcome(narUrl, coding === 'none' ? {} : { 'accept-encoding': coding });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe(coding === 'none' ? undefined : coding);
    expect(res.body.byteLength).toBeGreaterThan(0);
    expect(res.complete).toBe(false);
  });

  it('a failing range answer drops its Content-Range', async () => {
    blobs.failAfter = 0;
    const res = await outcome(narUrl, { range: 'bytes=1000-2000' });
    expect(res.status).toBe(500);
    expect(res.headers['content-range']).toBeUndefined();
    expect(res.headers['accept-ranges']).toBeUndefined();
    expect(res.body.toString()).toBe('internal error\n');
  });
});
