// protobufjs uint64 fields (a number, or a Long since `long` is installed) → a safe JS number: the one
// checked conversion for every uint64 read off the wire (node and chunk sizes, NAR sizes).
import { NarBridgeError } from '../../errors.js';

/** A protobufjs uint64: a number, or a Long whose unsigned halves are stored as int32. */
export type ProtoUint64 = number | { readonly low: number; readonly high: number } | null | undefined;

/** Throws NB_ERR_INVALID_NODE above 2^53-1: a rounded size would silently corrupt a stream's framing. */
export function uint64ToNumber(value: ProtoUint64, what: string): number {
  if (value === null || value === undefined) return 0;
  // `>>> 0` reads an int32 half back as the uint32 it holds.
  const n = typeof value === 'number' ? value : (value.high >>> 0) * 2 ** 32 + (value.low >>> 0);
  if (Number.isSafeInteger(n) && n >= 0) return n;
  if (typeof value === 'number' && !(Number.isInteger(value) && value >= 0)) throw new NarBridgeError('NB_ERR_INVALID_NODE', `${what} ${value} is not a uint64`);
  const exact = typeof value === 'number' ? String(value) : String((BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0));
  throw new NarBridgeError('NB_ERR_INVALID_NODE', `${what} ${exact} is above 2^53-1, the largest integer a number holds exactly`);
}
