// A brotli stream of uncompressed meta-blocks (RFC 7932 §9.2): valid .br that costs a copy, not a compression.
// What a client that pushed with compression=br asks for again (nix-http-protocol.md §7).
import { fixedChunks } from './fixed-chunks.js';

/** MLEN-1 fits the 16 bits of MNIBBLES = 4, the shortest length field. */
const BLOCK_BYTES = 64 * 1024;
/** ISLAST = 1, ISLASTEMPTY = 1. */
const LAST_EMPTY = 0b11;

/** Bytes `brotliUncompressed` writes for `inputSize` bytes of input. */
export function brotliUncompressedSize(inputSize: number): number {
  // Each meta-block header is 20 bits padded to 3 bytes (the first also carries the 1-bit WBITS); one byte ends it.
  return inputSize === 0 ? 1 : inputSize + 3 * Math.ceil(inputSize / BLOCK_BYTES) + 1;
}

export async function* brotliUncompressed(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  // The stream header is one bit, WBITS = 16 (a 0), carried in front of whatever comes first.
  let first = true;
  for await (const block of fixedChunks(source, BLOCK_BYTES)) {
    yield metaBlockHeader(block.byteLength, first);
    yield block;
    first = false;
  }
  yield new Uint8Array([first ? LAST_EMPTY << 1 : LAST_EMPTY]);
}

/** ISLAST = 0, MNIBBLES = 0 (four nibbles), MLEN-1, ISUNCOMPRESSED = 1, zero bits up to the byte; LSB first. */
function metaBlockHeader(length: number, withStreamHeader: boolean): Uint8Array {
  const fields = ((length - 1) << 3) | (1 << 19);
  const bits = withStreamHeader ? fields * 2 : fields;
  return new Uint8Array([bits & 0xff, (bits >>> 8) & 0xff, (bits >>> 16) & 0xff]);
}
