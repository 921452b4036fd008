// The NAR wire vocabulary: its literal tokens and the length math of the string framing every token uses.

/** A literal NAR token, kept both as raw bytes (for matching input) and framed (ready to copy into output). */
export interface Token {
  readonly text: string;
  readonly bytes: Uint8Array;
  readonly framed: Uint8Array;
}

/** Zero bytes needed after `n` bytes of string data to reach the next multiple of 8. */
export function paddingLength(n: number): number {
  return (8 - (n % 8)) % 8;
}

/** Bytes a NAR string of `n` data bytes occupies on the wire: u64 length, data, zero padding. */
export function narStringLength(n: number): number {
  return 8 + n + paddingLength(n);
}

/** The u64 little-endian at `bytes[offset]`, or null when it exceeds Number.MAX_SAFE_INTEGER. */
export function decodeLength(bytes: Uint8Array, offset: number): number | null {
  const high = readU32(bytes, offset + 4);
  if (high > 0x1f_ffff) return null; // 2^53 and above
  return high * 2 ** 32 + readU32(bytes, offset);
}

function readU32(bytes: Uint8Array, offset: number): number {
  const b0 = bytes[offset] ?? 0;
  const b1 = bytes[offset + 1] ?? 0;
  const b2 = bytes[offset + 2] ?? 0;
  const b3 = bytes[offset + 3] ?? 0;
  return (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0;
}

/** Writes `n` (at most 2^53-1) as a u64 little-endian at `offset`. */
export function setU64(view: DataView, offset: number, n: number): void {
  view.setUint32(offset, n >>> 0, true);
  view.setUint32(offset + 4, Math.floor(n / 2 ** 32), true);
}

function token(text: string): Token {
  const bytes = new TextEncoder().encode(text);
  const framed = new Uint8Array(narStringLength(bytes.length));
  setU64(new DataView(framed.buffer), 0, bytes.length);
  framed.set(bytes, 8);
  return { text, bytes, framed };
}

export const MAGIC = token('nix-archive-1');
export const OPEN = token('(');
export const CLOSE = token(')');
export const TYPE = token('type');
export const REGULAR = token('regular');
export const EXECUTABLE = token('executable');
export const EMPTY = token('');
export const CONTENTS = token('contents');
export const SYMLINK = token('symlink');
export const TARGET = token('target');
export const DIRECTORY = token('directory');
export const ENTRY = token('entry');
export const NAME = token('name');
export const NODE = token('node');

/** Data bytes of the longest literal token ("nix-archive-1"). */
export const LONGEST_TOKEN = Math.max(
  ...[MAGIC, OPEN, CLOSE, TYPE, REGULAR, EXECUTABLE, EMPTY, CONTENTS, SYMLINK, TARGET, DIRECTORY, ENTRY, NAME, NODE].map((t) => t.bytes.length),
);
