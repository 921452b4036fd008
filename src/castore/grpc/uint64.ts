// protobufjs uint64 fields (a number, or a Long since `long` is installed) → a safe JS number.
import { NarBridgeError } from '../../errors.js';

type Uint64 = number | { toString(): string } | null | undefined;

/** Throws NB_ERR_INVALID_NODE above 2^53: a rounded size would silently corrupt a stream's framing. */
export function uint64ToNumber(value: Uint64, what: string): number {
  if (value === null || value === undefined) return 0;
  const n = typeof value === 'number' ? value : Number(BigInt(value.toString()));
  if (!Number.isSafeInteger(n) || n < 0) throw new NarBridgeError('NB_ERR_INVALID_NODE', `${what} out of range`);
  return n;
}
