// Random byte-level mutations of a valid NAR: bit flips, overwritten length fields, cuts, insertions,
// duplicated and swapped 8-byte words (NAR tokens are 8-aligned), trailing garbage.
import type { Prng } from './prng.js';

type Mutation = (nar: Buffer, rng: Prng) => Buffer;

const alignedOffset = (nar: Buffer, rng: Prng) => rng.below(Math.max(1, nar.length >> 3)) << 3;

const MUTATIONS: ReadonlyArray<readonly [string, Mutation]> = [
  [
    'flip a bit',
    (nar, rng) => {
      const out = Buffer.from(nar);
      const at = rng.below(out.length);
      out[at] = (out[at] ?? 0) ^ (1 << rng.below(8));
      return out;
    },
  ],
  [
    'overwrite a byte',
    (nar, rng) => {
      const out = Buffer.from(nar);
      out[rng.below(out.length)] = rng.below(256);
      return out;
    },
  ],
  // Most 8-aligned words are string lengths or padding: small, huge and off-by-one values.
  [
    'overwrite a length word',
    (nar, rng) => {
      const out = Buffer.from(nar);
      const at = alignedOffset(out, rng);
      const current = out.length >= at + 8 ? out.readBigUInt64LE(at) : 0n;
      const value = rng.pick([current + 1n, current - 1n < 0n ? 0n : current - 1n, current + 8n, 0n, 2n ** 64n - 1n, 2n ** 63n, BigInt(rng.below(2 ** 31))]);
      if (out.length >= at + 8) out.writeBigUInt64LE(value, at);
      return out;
    },
  ],
  ['truncate', (nar, rng) => nar.subarray(0, rng.below(nar.length))],
  [
    'insert bytes',
    (nar, rng) => {
      const at = rng.below(nar.length + 1);
      return Buffer.concat([nar.subarray(0, at), rng.bytes(rng.between(1, 16)), nar.subarray(at)]);
    },
  ],
  [
    'delete bytes',
    (nar, rng) => {
      const at = rng.below(nar.length);
      return Buffer.concat([nar.subarray(0, at), nar.subarray(at + rng.between(1, 16))]);
    },
  ],
  [
    'duplicate words',
    (nar, rng) => {
      const at = alignedOffset(nar, rng);
      const slice = nar.subarray(at, at + 8 * rng.between(1, 8));
      return Buffer.concat([nar.subarray(0, at), slice, nar.subarray(at)]);
    },
  ],
  [
    'swap two words',
    (nar, rng) => {
      const out = Buffer.from(nar);
      const a = alignedOffset(out, rng);
      const b = alignedOffset(out, rng);
      if (a + 8 <= out.length && b + 8 <= out.length) {
        const word = Buffer.from(out.subarray(a, a + 8));
        out.copy(out, a, b, b + 8);
        word.copy(out, b);
      }
      return out;
    },
  ],
  ['append garbage', (nar, rng) => Buffer.concat([nar, rng.bytes(rng.between(1, 24))])],
];

export function mutate(nar: Buffer, rng: Prng): { readonly how: string; readonly bytes: Buffer } {
  const [how, apply] = rng.pick(MUTATIONS);
  return { how, bytes: apply(nar, rng) };
}
