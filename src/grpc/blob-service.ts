// tvix BlobService over gRPC, served from any BlobService: Stat (with chunk lists), Read, Put.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { B3Digest, BLOB_METHODS, releaseReadBuffer, type BlobChunk, type BlobService } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { servedMethod } from './definition.js';
import { clientStreamHandler, serverStreamHandler, unaryHandler, type GrpcLog } from './handlers.js';

/**
 * Read message size. Each Read a client keeps in flight buffers a few messages on both ends, so smaller
 * than the backends' 1 MiB reads; large enough that per-message overhead is noise.
 */
export const READ_CHUNK_BYTES = 256 * 1024;

/**
 * The read buffer a Read message was cut from, on the message that ends it. Once that message is serialised (its
 * bytes copied, and those of every message before it, written in order), the buffer goes back to the pool. Without it
 * every 512 KiB a Read sent was a new buffer, and the memory they held outside the heap made the server run a full
 * garbage collection every few tens of MiB sent.
 */
const CUT_FROM = Symbol('read buffer of this Read message');

type ReadMessage = { data: Uint8Array; [CUT_FROM]?: Uint8Array };

/**
 * Where Read messages are encoded, one after another (grpc-js copies each into its frame first, see servedMethod).
 * A Read sends few objects and many bytes, so the JavaScript heap hardly grows and only the memory outside it starts
 * collections: each new buffer per message brought them on sooner, and every one is a full mark-compact of the heap
 * (bench/grpc-throughput.ts --large-mib 256, --trace-gc on A: 78 in a run with each message encoded anew, 47 with
 * this buffer; A's CPU per 256 MiB Read through B ~1.1 s -> ~0.75 s when collections came often, ~0.5 -> ~0.27 s
 * when they did not).
 */
const readScratch = Buffer.allocUnsafe(READ_CHUNK_BYTES + 16);

/**
 * A BlobChunk (`bytes data = 1`) in protobuf's wire form: the field's tag, its length as a varint, its bytes. A Read
 * message carries at most READ_CHUNK_BYTES, so it always fits (the 16 bytes spare hold the tag and the varint).
 */
function serializeReadMessage(message: BlobChunk): Buffer {
  const data = message.data ?? new Uint8Array(0);
  let at = 0;
  if (data.byteLength > 0) {
    readScratch[at++] = (1 << 3) | 2; // field 1, length-delimited
    let length = data.byteLength;
    for (; length > 0x7f; length >>>= 7) readScratch[at++] = (length & 0x7f) | 0x80;
    readScratch[at++] = length;
    readScratch.set(data, at);
    at += data.byteLength;
  }
  const piece: unknown = Reflect.get(message, CUT_FROM);
  if (piece instanceof Uint8Array) releaseReadBuffer(piece);
  return readScratch.subarray(0, at);
}

export const BLOB_SERVICE_DEFINITION = {
  stat: servedMethod(BLOB_METHODS.stat),
  read: servedMethod(BLOB_METHODS.read, serializeReadMessage),
  put: servedMethod(BLOB_METHODS.put),
};

function notFound(digest: B3Digest): NarBridgeError {
  return new NarBridgeError('NB_ERR_NOT_FOUND', `blob ${digest.toHex()} not found`);
}

export function blobServiceImplementation(blobs: BlobService, log: GrpcLog): UntypedServiceImplementation {
  return {
    stat: unaryHandler(BLOB_METHODS.stat, log, async (request, signal) => {
      const digest = B3Digest.parse(request.digest ?? new Uint8Array(0));
      if (!request.sendChunks) {
        if (!(await blobs.has(digest, { signal }))) throw notFound(digest);
        return {};
      }
      const chunks = await blobs.chunks(digest, { signal });
      if (chunks === null) throw notFound(digest);
      return { chunks: chunks.map((chunk) => ({ digest: chunk.digest.bytes, size: chunk.size })) };
    }),

    read: serverStreamHandler(BLOB_METHODS.read, log, async function* (request, signal) {
      const digest = B3Digest.parse(request.digest ?? new Uint8Array(0));
      const contents = await blobs.openRead(digest, { signal });
      if (!contents) throw notFound(digest);
      for await (const piece of contents) {
        for (let offset = 0; offset < piece.byteLength; offset += READ_CHUNK_BYTES) {
          const message: ReadMessage = { data: piece.subarray(offset, offset + READ_CHUNK_BYTES) };
          if (offset + READ_CHUNK_BYTES >= piece.byteLength) message[CUT_FROM] = piece;
          yield message;
        }
      }
    }),

    put: clientStreamHandler(BLOB_METHODS.put, log, async (requests, signal) => {
      const writer = blobs.openWrite({ signal });
      try {
        for await (const chunk of requests) {
          if (chunk.data && chunk.data.byteLength > 0) await writer.write(chunk.data);
        }
      } catch (err) {
        await writer.abort(err);
        throw err;
      }
      const digest = await writer.close();
      await blobs.flush({ signal }); // a returned digest is a promise that the blob is stored
      return { digest: digest.bytes };
    }),
  };
}
