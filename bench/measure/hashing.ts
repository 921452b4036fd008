// Raw hashing speed in this process: sha256 (node:crypto, what NarHash and FileHash need) and native blake3 (what
// castore digests need) — ceilings for ingest and for checking uploads.
import { createHash, randomFillSync } from 'node:crypto';
import { blake3 } from '@napi-rs/blake-hash';
import { MB, type BenchContext } from '../context.js';
import { timeSeconds } from '../nix.js';

/** Enough to dwarf call overhead, small enough to stay in memory comfortably. */
const BUFFER_BYTES = { full: 256 * 1024 * 1024, smoke: 16 * 1024 * 1024 };

export async function measureHashing(ctx: BenchContext): Promise<void> {
  const data = randomFillSync(Buffer.allocUnsafe(ctx.options.smoke ? BUFFER_BYTES.smoke : BUFFER_BYTES.full));
  const hashers: Array<[string, () => void]> = [
    ['sha256 (node:crypto)', () => createHash('sha256').update(data).digest()],
    ['blake3 (@napi-rs/blake-hash)', () => blake3(data)],
  ];
  for (let rep = 0; rep < ctx.options.reps; rep++) {
    for (const [name, hash] of hashers) {
      const seconds = await timeSeconds(async () => hash());
      ctx.results.add({ group: 'reference', name, unit: 'MB/s', reference: 'in-process, 1 core' }, 'reference', data.length / MB / seconds);
    }
  }
}
