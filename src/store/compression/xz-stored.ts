// An xz stream whose one block holds LZMA2 uncompressed chunks (xz-file-format-1.2.0, LZMA2 chunk control bytes 1
// and 2), checked with CRC32: valid .xz that costs a copy and a CRC32, not a compression. What a client that pushed
// with the default compression (xz) asks for again (nix-http-protocol.md §7).
import { crc32 } from 'node:zlib';
import { fixedChunks } from './fixed-chunks.js';

/** An LZMA2 chunk states its uncompressed size minus one in 16 bits. */
const CHUNK_BYTES = 64 * 1024;
const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
/** Stream flags: check type 1, CRC32 (cheap, and liblzma verifies it). */
const STREAM_FLAGS = [0x00, 0x01];
const CHECK_BYTES = 4;
/**
 * Block header: size field (12 / 4 - 1), flags (one filter, no size fields), the LZMA2 filter (ID 0x21, one
 * property byte: the smallest dictionary, 4 KiB, as uncompressed chunks never refer back), padding, then its CRC32.
 */
const BLOCK_HEADER = withCrc32([0x02, 0x00, 0x21, 0x01, 0x00, 0x00, 0x00, 0x00]);
const STREAM_HEADER = new Uint8Array([...MAGIC, ...withCrc32(STREAM_FLAGS)]);
const CHUNK_HEADER_BYTES = 3;
const LZMA2_END = 0x00;
const FOOTER_BYTES = 12;

/** Bytes `xzStored` writes for `inputSize` bytes of input. */
export function xzStoredSize(inputSize: number): number {
  const compressed = lzma2Size(inputSize);
  return STREAM_HEADER.byteLength + BLOCK_HEADER.byteLength + padded(compressed) + CHECK_BYTES + index(inputSize, compressed).byteLength + FOOTER_BYTES;
}

export async function* xzStored(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  yield STREAM_HEADER;
  yield BLOCK_HEADER;
  let crc = 0;
  let size = 0;
  for await (const chunk of fixedChunks(source, CHUNK_BYTES)) {
    crc = crc32(chunk, crc);
    // Control byte 1 resets the dictionary, as the first chunk of a block must; 2 keeps it.
    yield new Uint8Array([size === 0 ? 0x01 : 0x02, (chunk.byteLength - 1) >>> 8, (chunk.byteLength - 1) & 0xff]);
    yield chunk;
    size += chunk.byteLength;
  }
  const compressed = lzma2Size(size);
  // The end marker, block padding (zeros) to a multiple of four, the check.
  yield new Uint8Array([LZMA2_END, ...new Array<number>(padded(compressed) - compressed).fill(0), ...u32le(crc)]);
  const idx = index(size, compressed);
  yield idx;
  yield footer(idx.byteLength);
}

function lzma2Size(inputSize: number): number {
  return inputSize + CHUNK_HEADER_BYTES * Math.ceil(inputSize / CHUNK_BYTES) + 1;
}

/** The index: indicator, one record (unpadded block size, uncompressed size), padding, CRC32. */
function index(inputSize: number, compressed: number): Uint8Array {
  const unpadded = BLOCK_HEADER.byteLength + compressed + CHECK_BYTES;
  const fields = [0x00, ...varint(1), ...varint(unpadded), ...varint(inputSize)];
  return withCrc32([...fields, ...new Array<number>(padded(fields.length) - fields.length).fill(0)]);
}

/** CRC32 of the next six bytes, backward size (index size / 4 - 1), the stream flags again, "YZ". */
function footer(indexSize: number): Uint8Array {
  const covered = [...u32le(indexSize / 4 - 1), ...STREAM_FLAGS];
  return new Uint8Array([...u32le(crc32(new Uint8Array(covered))), ...covered, 0x59, 0x5a]);
}

/** `bytes` followed by their CRC32. */
function withCrc32(bytes: readonly number[]): Uint8Array {
  return new Uint8Array([...bytes, ...u32le(crc32(new Uint8Array(bytes)))]);
}

function u32le(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

/** xz's multibyte integer: 7 bits a byte, least significant first, high bit set on all but the last. */
function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

function padded(size: number): number {
  return Math.ceil(size / 4) * 4;
}
