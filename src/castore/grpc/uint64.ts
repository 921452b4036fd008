// An unsigned 64-bit integer → a safe JS number: the one checked conversion for every uint64 we read, from
// protobufjs fields (a number, or a Long since `long` is installed) and from our own files (a bigint).
import { NarBridgeError } from '../../errors.js';

/** A protobufjs uint64 (a number, or a Long whose unsigned halves are stored as int32), or a bigint. */
export type Uint64 = number | bigint | { readonly low: number; readonly high: number } | null | undefined;

/** Throws NB_ERR_INVALID_NODE above 2^53-1: a rounded size would silently corrupt a stream's framing. */
export function uint64ToNumber(value: Uint64, what: string): number {
  if (value === null || value === undefined) return 0;
  // `>>> 0` reads an int32 half back as the uint32 it holds.
  const n = typeof value === 'object' ? (value.high >>> 0) * 2 ** 32 + (value.low >>> 0) : Number(value);
  if (Number.isSafeInteger(n) && n >= 0) return n;
  if (typeof value !== 'object' && !(n >= 0 && (typeof value === 'bigint' || Number.isInteger(value)))) {
    throw new NarBridgeError('NB_ERR_INVALID_NODE', `${what} ${value} is not a uint64`);
  }
  const exact = typeof value === 'object' ? (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0) : value;
  throw new NarBridgeError('NB_ERR_INVALID_NODE', `${what} ${exact} is above 2^53-1, the largest integer a number holds exactly`);
}
