// OffThreadHasher: the same digests as hashing in this thread, whatever the stream's length and piece sizes; a dead
// worker fails the streams it was hashing, and the next stream gets a new one.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { blake3 as nativeBlake3 } from '@napi-rs/blake-hash';
import { describe, expect, it } from 'vitest';
import { OffThreadHasher, terminateHashWorker, type StreamHashAlgorithm } from '../../src/castore/index.js';

const MiB = 1024 * 1024;
const execFileAsync = promisify(execFile);

function reference(algorithm: StreamHashAlgorithm, bytes: Uint8Array): string {
  return Buffer.from(algorithm === 'sha256' ? createHash('sha256').update(bytes).digest() : nativeBlake3(Buffer.from(bytes))).toString('hex');
}

async function hashInPieces(algorithm: StreamHashAlgorithm, bytes: Uint8Array, piece: number): Promise<string> {
  const hasher = new OffThreadHasher(algorithm);
  for (let at = 0; at < bytes.byteLength; at += piece) {
    const view = bytes.subarray(at, at + piece);
    const copy = Uint8Array.from(view);
    await hasher.update(copy);
    copy.fill(0); // the hasher copied what it needs: the caller may reuse its buffer at once
  }
  return Buffer.from(await hasher.digest()).toString('hex');
}

describe.each(['sha256', 'blake3'] as const)('OffThreadHasher %s', (algorithm) => {
  it.each([0, 1, 1000, MiB - 1, MiB, MiB + 1, 9 * MiB + 12345])('hashes %i bytes as in this thread', async (length) => {
    const bytes = randomBytes(length);
    for (const piece of [7, 65_536, 3 * MiB]) {
      if (length / piece > 2000) continue;
      expect(await hashInPieces(algorithm, bytes, piece)).toBe(reference(algorithm, bytes));
    }
  });

  it('keeps concurrent streams apart', async () => {
    const a = randomBytes(5 * MiB);
    const b = randomBytes(6 * MiB + 3);
    const [da, db] = await Promise.all([hashInPieces(algorithm, a, 100_000), hashInPieces(algorithm, b, 256 * 1024)]);
    expect([da, db]).toEqual([reference(algorithm, a), reference(algorithm, b)]);
  });
});

describe('OffThreadHasher failures', () => {
  it('fails a stream whose worker died, and hashes the next one on a new worker', async () => {
    const hasher = new OffThreadHasher('sha256');
    await hasher.update(randomBytes(3 * MiB));
    await terminateHashWorker();
    await expect(async () => {
      await hasher.update(randomBytes(3 * MiB));
      await hasher.digest();
    }).rejects.toMatchObject({ code: 'NB_ERR_STORAGE' });
    const bytes = randomBytes(3 * MiB);
    expect(await hashInPieces('sha256', bytes, MiB)).toBe(reference('sha256', bytes));
  });

  it('refuses updates after the digest', async () => {
    const hasher = new OffThreadHasher('blake3');
    await hasher.update(randomBytes(10));
    await hasher.digest();
    expect(() => hasher.update(randomBytes(10))).toThrow(/already finished/);
  });
});

describe('OffThreadHasher and process exit', () => {
  it('keeps the process alive while a stream waits on the worker, one stream after another', async () => {
    const module = new URL('../../src/castore/off-thread-hash.ts', import.meta.url).pathname;
    const script = `
      import { OffThreadHasher } from ${JSON.stringify(module)};
      for (const algorithm of ['sha256', 'blake3', 'sha256']) {
        const hasher = new OffThreadHasher(algorithm);
        for (let i = 0; i < 12; i++) await hasher.update(new Uint8Array(1024 * 1024 + 1).fill(i));
        console.log(Buffer.from(await hasher.digest()).toString('hex').slice(0, 8));
      }`;
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000 });
    expect(stdout.trim().split('\n')).toHaveLength(3);
  });
});
