// The lean gRPC client of the hot lookups (src/castore/grpc/lean.ts) against our grpc-js server and against a raw
// HTTP/2 peer that misbehaves on purpose: every failure must end as the same error grpc-js gives, and a call left
// early must free its stream on the peer.
import { once } from 'node:events';
import http2, { type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blake3, GrpcBlobService, GrpcConnection, grpcEndpointFromUrl } from '../../../src/castore/index.js';
import { BLOB_METHODS } from '../../../src/castore/grpc/services.js';
import { tvix } from '../../../src/proto/index.js';
import { NarBridgeError } from '../../../src/errors.js';
import { startGrpcServer, type GrpcListener } from '../../../src/grpc/index.js';
import { AccessTokens } from '../../../src/http/index.js';
import { servedMemoryStore } from '../../store/memory-store.js';

/** The same two methods sent through grpc-js instead: what the lean client must match. */
const VIA_GRPC_JS = { read: { ...BLOB_METHODS.read, lean: false }, stat: { ...BLOB_METHODS.stat, lean: false } };

/** What a failed call turned into: our error code and the gRPC status behind it. */
async function outcome(run: () => Promise<unknown>): Promise<{ code: string; status: number | undefined } | 'ok'> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    if (!NarBridgeError.is(err)) throw err;
    return { code: err.code, status: (err.cause as { code?: number } | undefined)?.code };
  }
}

async function drain(messages: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of messages) count++;
  return count;
}

function frame(message: Uint8Array, flag = 0): Buffer {
  const framed = Buffer.alloc(5 + message.byteLength);
  framed[0] = flag;
  framed.writeUInt32BE(message.byteLength, 1);
  framed.set(message, 5);
  return framed;
}

const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const chunk = (data: Uint8Array) => tvix.castore.v1.BlobChunk.encode({ data }).finish();

describe('lean client against a peer that misbehaves', () => {
  let server: Http2Server;
  let connection: GrpcConnection;
  /** How the peer answers the next call. */
  let answer: (stream: ServerHttp2Stream) => void = () => undefined;

  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.resume(); // the request is not needed
      answer(stream);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${port}`)));
  });
  afterAll(() => {
    connection.close();
    server.close();
  });

  const digest = { digest: blake3(new Uint8Array([1])).bytes };
  const scenarios: Record<string, (stream: ServerHttp2Stream) => void> = {
    'trailers-only NOT_FOUND': (s) => s.respond({ ...GRPC_HEADERS, 'grpc-status': '5', 'grpc-message': 'no%20such%20blob' }, { endStream: true }),
    'trailers-only UNAUTHENTICATED': (s) => s.respond({ ...GRPC_HEADERS, 'grpc-status': '16' }, { endStream: true }),
    'HTTP 401': (s) => s.respond({ ':status': 401 }, { endStream: true }),
    'HTTP 503 with a body': (s) => {
      s.respond({ ':status': 503, 'content-type': 'text/html' });
      s.end('<h1>down</h1>');
    },
    'no status at all': (s) => {
      s.respond(GRPC_HEADERS);
      s.end(frame(chunk(new Uint8Array([1]))));
    },
    'RST_STREAM(INTERNAL_ERROR)': (s) => {
      s.respond(GRPC_HEADERS);
      s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    },
    'RST_STREAM(REFUSED_STREAM)': (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
    'a compressed message': (s) => {
      s.respond(GRPC_HEADERS, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(frame(chunk(new Uint8Array([1])), 1));
    },
    'a message over the size limit': (s) => {
      s.respond(GRPC_HEADERS, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(512 * 1024 * 1024, 1);
      s.end(head);
    },
    'an error after a message': (s) => {
      s.respond(GRPC_HEADERS, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'gone' }));
      s.end(frame(chunk(new Uint8Array([1]))));
    },
  };

  it.each(Object.keys(scenarios))('%s: the same error as grpc-js, for a stream and for a unary call', async (name) => {
    answer = scenarios[name] ?? (() => undefined);
    const lean = {
      read: await outcome(() => drain(connection.serverStream(BLOB_METHODS.read, digest))),
      stat: await outcome(() => connection.unary(BLOB_METHODS.stat, digest)),
    };
    const grpcJs = {
      read: await outcome(() => drain(connection.serverStream(VIA_GRPC_JS.read, digest))),
      stat: await outcome(() => connection.unary(VIA_GRPC_JS.stat, digest)),
    };
    expect(lean.read).not.toBe('ok');
    for (const method of ['read', 'stat'] as const) {
      const [ours, theirs] = [lean[method], grpcJs[method]];
      if (ours === 'ok' || theirs === 'ok') expect(ours).toEqual(theirs);
      else {
        expect(ours.code).toBe(theirs.code);
        // grpc-js fails a compressed message it cannot decode without a status; ours says INTERNAL.
        if (theirs.status !== undefined) expect(ours.status).toBe(theirs.status);
      }
    }
  });

  it('NOT_FOUND is a miss, not an error', async () => {
    answer = scenarios['trailers-only NOT_FOUND'] ?? (() => undefined);
    const blobs = new GrpcBlobService(connection);
    const missing = blake3(new Uint8Array([2]));
    expect(await blobs.openRead(missing)).toBeNull();
    expect(await blobs.chunks(missing)).toBeNull();
    expect(await blobs.has(missing)).toBe(false);
  });

  it('a stream that ends inside a message is an error, though its status is OK', async () => {
    answer = (s) => {
      s.respond(GRPC_HEADERS, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(frame(chunk(new Uint8Array(100))).subarray(0, 50));
    };
    expect(await outcome(() => drain(connection.serverStream(BLOB_METHODS.read, digest)))).toEqual({ code: 'NB_ERR_UPSTREAM', status: 13 });
  });

  it('a second answer to a unary call is an error at once', async () => {
    answer = (s) => {
      s.respond(GRPC_HEADERS, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      const stat = tvix.castore.v1.StatBlobResponse.encode({}).finish();
      s.end(Buffer.concat([frame(stat), frame(stat)]));
    };
    // (grpc-js waits out the call's 30 s deadline here.)
    expect(await outcome(() => connection.unary(BLOB_METHODS.stat, digest))).toEqual({ code: 'NB_ERR_UNSUPPORTED', status: 12 });
  });

  /** A peer that sends one message and then holds the stream open; resolves with the code the stream closed with. */
  function holdOpen(): Promise<number> {
    return new Promise((resolve) => {
      answer = (s) => {
        s.once('close', () => resolve(s.rstCode ?? -1));
        s.respond(GRPC_HEADERS);
        s.write(frame(chunk(new Uint8Array(16))));
      };
    });
  }

  it('a consumer that stops reading holds the peer back at about the receive window', async () => {
    let sent = 0;
    answer = (s) => {
      s.respond(GRPC_HEADERS);
      const message = frame(chunk(new Uint8Array(256 * 1024)));
      void (async () => {
        for (let i = 0; i < 256 && !s.closed; i++) {
          if (!s.write(message, () => (sent += message.byteLength))) await Promise.race([once(s, 'drain'), once(s, 'close')]);
        }
      })();
    };
    for await (const _ of connection.serverStream(BLOB_METHODS.read, digest)) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      // 64 MiB offered; what got through is the 16 MiB window, the 512 KiB queue and what Node's stream buffers.
      expect(sent).toBeGreaterThan(8 * 1024 * 1024);
      expect(sent).toBeLessThan(20 * 1024 * 1024);
      break;
    }
  });

  it('leaving a read early cancels its stream on the peer', async () => {
    const peerClosed = holdOpen();
    for await (const _ of connection.serverStream(BLOB_METHODS.read, digest)) break;
    expect(await peerClosed).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('an abort signal cancels a read in progress with its reason, and the stream on the peer', async () => {
    const peerClosed = holdOpen();
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const read = (async () => {
      for await (const _ of connection.serverStream(BLOB_METHODS.read, digest, { signal: controller.signal })) controller.abort(reason);
    })();
    await expect(read).rejects.toBe(reason);
    expect(await peerClosed).toBe(http2.constants.NGHTTP2_CANCEL);
  });
});

describe('lean client against our grpc-js server', () => {
  const TOKEN = 'read-token-0123456789';
  let listener: GrpcListener;
  const store = servedMemoryStore();

  beforeAll(async () => {
    const access = { tokens: AccessTokens.parse(`read ${TOKEN}\n`), privateReads: true };
    listener = await startGrpcServer('127.0.0.1:0', { store, log: { error: () => undefined, debug: () => undefined }, access });
  });
  afterAll(() => listener.close());

  async function connect(token: string | null): Promise<GrpcConnection> {
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    let url = `grpc+http://127.0.0.1:${listener.port}`;
    if (token !== null) {
      const file = join(await mkdtemp(join(tmpdir(), 'nb-lean-')), 'token');
      await writeFile(file, token);
      url += `?token-file=${file}`;
    }
    return new GrpcConnection(await grpcEndpointFromUrl(new URL(url)));
  }

  it('reads with the right token; a wrong or missing one is UNAUTHENTICATED, as through grpc-js', async () => {
    const data = new TextEncoder().encode('served through grpc-js, read lean');
    const writer = store.blobs.openWrite();
    await writer.write(data);
    const digest = await writer.close();
    const good = await connect(TOKEN);
    try {
      const read = await new GrpcBlobService(good).openRead(digest);
      const pieces: Uint8Array[] = [];
      for await (const piece of read ?? []) pieces.push(piece);
      expect(Buffer.concat(pieces).toString()).toBe('served through grpc-js, read lean');
      expect(await new GrpcBlobService(good).openRead(blake3(new Uint8Array([9])))).toBeNull();
    } finally {
      good.close();
    }
    for (const token of ['wrong-token-0123456789', null]) {
      const bad = await connect(token);
      try {
        const request = { digest: digest.bytes };
        const lean = await outcome(() => drain(bad.serverStream(BLOB_METHODS.read, request)));
        expect(lean).toEqual({ code: 'NB_ERR_UPSTREAM', status: 16 });
        expect(lean).toEqual(await outcome(() => drain(bad.serverStream(VIA_GRPC_JS.read, request))));
        expect(await outcome(() => bad.unary(BLOB_METHODS.stat, request))).toEqual({ code: 'NB_ERR_UPSTREAM', status: 16 });
      } finally {
        bad.close();
      }
    }
  });
});
