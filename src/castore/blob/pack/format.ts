// The pack file format: blobs and chunks appended as checksummed records to large append-only files.
//
// A store's objects live in `<data dir>/packs/<id>.pack`, id an 8-digit lowercase hex number allocated by the index
// (SQLite `pack_files`). Every integer is little-endian.
//
//   pack header (16 bytes, at offset 0)
//     0   8  magic  "NBPACK\r\n" (the CR LF catches a text-mode transfer, as PNG's does)
//     8   4  format version, u32 = 1
//     12  4  reserved, zero
//
//   record (48-byte header, then the payload), repeated; records are not aligned
//     0   4  magic "NBR1"
//     4   4  payload length, u32 (a record holds one whole small blob or one chunk, never more than 4 GiB)
//     8   4  CRC-32 (zlib's) of the payload
//     12 32  blake3 digest of the payload: the object's identity, so a pack can be scanned without the index
//     44  4  CRC-32 of header bytes 0..44: a torn or overwritten header is caught before its length is believed
//     48  …  payload
//
// A pack is only ever appended to, by the one process that created it (its `owner_pid` in the index). The index
// row of a record is committed only after the pack was fsynced past the record's end, and the pack's
// `durable_bytes` is advanced in the same transaction, so everything past `durable_bytes` is an uncommitted tail:
// after a crash it is cut off (see PackFiles.recover). Blobs larger than one chunk are a list of chunk digests
// in the index (`pack_chunked_blobs`), each chunk a record. Deleting objects (GC) is a matter of dropping index rows;
// `pack_files.live_bytes` tracks how much of a pack is still referenced, so a pack worth repacking can be found.
import { crc32 } from 'node:zlib';
import { B3_DIGEST_LENGTH, B3Digest } from '../../digest.js';

export const PACK_MAGIC = Buffer.from('NBPACK\r\n', 'latin1');
export const PACK_VERSION = 1;
export const PACK_HEADER_BYTES = 16;
export const RECORD_MAGIC = 0x3152424e; // "NBR1" read as u32 LE
export const RECORD_HEADER_BYTES = 48;
const HEADER_CRC_AT = 44;

export function packHeader(): Buffer {
  const header = Buffer.alloc(PACK_HEADER_BYTES);
  PACK_MAGIC.copy(header, 0);
  header.writeUInt32LE(PACK_VERSION, 8);
  return header;
}

/** Null when `bytes` starts like a pack of this version; otherwise what is wrong with it. */
export function packHeaderProblem(bytes: Uint8Array): string | null {
  if (bytes.byteLength < PACK_HEADER_BYTES) return 'shorter than its header';
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, PACK_HEADER_BYTES);
  if (!header.subarray(0, 8).equals(PACK_MAGIC)) return 'not a pack file';
  const version = header.readUInt32LE(8);
  return version === PACK_VERSION ? null : `pack format version ${version} is not supported`;
}

/** Writes the header of a record holding `payload` (whose blake3 is `digest`) into `target` at `at`. */
export function writeRecordHeader(target: Buffer, at: number, digest: B3Digest, payload: Uint8Array): void {
  target.writeUInt32LE(RECORD_MAGIC, at);
  target.writeUInt32LE(payload.byteLength, at + 4);
  target.writeUInt32LE(crc32(payload), at + 8);
  target.set(digest.bytes, at + 12);
  target.writeUInt32LE(crc32(target.subarray(at, at + HEADER_CRC_AT)), at + HEADER_CRC_AT);
}

export interface RecordHeader {
  readonly digest: B3Digest;
  readonly length: number;
  readonly payloadCrc: number;
}

/** The header at `bytes[at..]`, or why it is not a valid one. */
export function readRecordHeader(bytes: Buffer, at: number): RecordHeader | string {
  if (bytes.byteLength - at < RECORD_HEADER_BYTES) return 'record header cut short';
  if (bytes.readUInt32LE(at) !== RECORD_MAGIC) return 'no record header';
  if (crc32(bytes.subarray(at, at + HEADER_CRC_AT)) !== bytes.readUInt32LE(at + HEADER_CRC_AT)) return 'record header checksum mismatch';
  return {
    length: bytes.readUInt32LE(at + 4),
    payloadCrc: bytes.readUInt32LE(at + 8),
    digest: B3Digest.parse(bytes.subarray(at + 12, at + 12 + B3_DIGEST_LENGTH)),
  };
}

/**
 * The payload of the record at `bytes[at..]`, checked to be `expected` (digest and length) by its checksums; or
 * why not. CRC-32 costs about 0.2 ms per MiB (zlib's, measured at ~5.8 GB/s here): cheap enough for every read,
 * unlike a full blake3 re-hash, which `nar-bridge verify` does.
 */
export function checkedPayload(bytes: Buffer, at: number, expected: B3Digest, expectedLength: number): Buffer | string {
  const header = readRecordHeader(bytes, at);
  if (typeof header === 'string') return header;
  if (!header.digest.equals(expected)) return 'record holds another object';
  if (header.length !== expectedLength) return 'record length differs from the index';
  const payload = bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + header.length);
  if (payload.byteLength !== header.length) return 'record cut short';
  if (crc32(payload) !== header.payloadCrc) return 'payload checksum mismatch';
  return payload;
}

export function packFileName(id: number): string {
  return `${id.toString(16).padStart(8, '0')}.pack`;
}
