// A zstd frame of raw blocks (RFC 8878 §3.1.1): valid .zst that costs a copy, not a compression. What a client
// that pushed with compression=zstd asks for again (nix-http-protocol.md §7).
import { fixedChunks } from './fixed-chunks.js';

/** Block_Maximum_Size: the smaller of 128 KiB and the window. */
const BLOCK_BYTES = 128 * 1024;
/**
 * Magic, then a Frame_Header_Descriptor of 0 (no content size, since a stream cannot know it; no checksum — Nix
 * checks the NarHash; no dictionary) and a Window_Descriptor of 0x38 (exponent 7: 2^(10+7) = 128 KiB, one block).
 */
const HEADER = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]);
const BLOCK_HEADER_BYTES = 3;

/** Bytes `zstdRaw` writes for `inputSize` bytes of input. */
export function zstdRawSize(inputSize: number): number {
  // Every data block is non-last; an empty last block ends the frame, since a stream cannot look ahead.
  return HEADER.byteLength + inputSize + BLOCK_HEADER_BYTES * (Math.ceil(inputSize / BLOCK_BYTES) + 1);
}

export async function* zstdRaw(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  yield HEADER;
  for await (const block of fixedChunks(source, BLOCK_BYTES)) {
    yield blockHeader(false, block.byteLength);
    yield block;
  }
  yield blockHeader(true, 0);
}

/** 24 bits, little-endian: Last_Block, Block_Type 0 (raw) in bits 1-2, Block_Size above. */
function blockHeader(last: boolean, size: number): Uint8Array {
  const value = size * 8 + (last ? 1 : 0);
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff]);
}
