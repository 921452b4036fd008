// gzip made of deflate stored blocks (RFC 1951 §3.2.4, RFC 1952): a valid .gz that costs a copy and a CRC32, not a
// compression. What a client that pushed with compression=gzip asks for again (nix-http-protocol.md §7).
import { crc32 } from 'node:zlib';
import { fixedChunks } from './fixed-chunks.js';

/** LEN is a 16-bit field. */
const BLOCK_BYTES = 0xffff;
/** ID1 ID2, CM = deflate, no flags, no mtime, XFL 0, OS 255 (unknown). */
const HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
const BLOCK_HEADER_BYTES = 5;
const TRAILER_BYTES = 8;

/** Bytes `gzipStored` writes for `inputSize` bytes of input. */
export function gzipStoredSize(inputSize: number): number {
  // Every data block is non-final; an empty final block ends the stream, since a stream cannot look ahead.
  return HEADER.byteLength + inputSize + BLOCK_HEADER_BYTES * (Math.ceil(inputSize / BLOCK_BYTES) + 1) + TRAILER_BYTES;
}

export async function* gzipStored(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  yield HEADER;
  let crc = 0;
  let size = 0;
  for await (const block of fixedChunks(source, BLOCK_BYTES)) {
    crc = crc32(block, crc);
    size += block.byteLength;
    yield blockHeader(false, block.byteLength);
    yield block;
  }
  const end = new Uint8Array(BLOCK_HEADER_BYTES + TRAILER_BYTES);
  end.set(blockHeader(true, 0));
  const trailer = new DataView(end.buffer, BLOCK_HEADER_BYTES);
  trailer.setUint32(0, crc, true);
  trailer.setUint32(4, size % 2 ** 32, true); // ISIZE is the size modulo 2^32
  yield end;
}

/** BFINAL, BTYPE 00 (stored), padding to the byte, then LEN and its one's complement NLEN. */
function blockHeader(final: boolean, length: number): Uint8Array {
  const header = new Uint8Array(BLOCK_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header[0] = final ? 1 : 0;
  view.setUint16(1, length, true);
  view.setUint16(3, ~length & 0xffff, true);
  return header;
}
