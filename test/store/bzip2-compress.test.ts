// bzip2 (no stored mode) through Debian's bzip2: real output, pulled with backpressure, and no child left behind.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { bzip2Compress } from '../../src/store/compression/bzip2-compress.js';
import { childrenNamed } from './child-processes.js';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const bzip2Children = () => childrenNamed('bzip2');

it.each([0, 1, 300 * 1024])('compresses %i bytes so that bzip2 -d gives them back', async (n) => {
  const data = randomBytes(n);
  const encoded = await collect(
    bzip2Compress(
      (async function* () {
        if (n > 0) yield data;
      })(),
    ),
  );
  expect(encoded.subarray(0, 3).toString('latin1')).toBe('BZh');
  expect(execFileSync('bzip2', ['-d', '-c'], { input: encoded }).equals(data)).toBe(true);
});

it('reads its source only as the output is consumed, and kills bzip2 when the consumer leaves', async () => {
  let produced = 0;
  let closed = false;
  const endless = async function* () {
    try {
      for (;;) {
        produced += 64 * 1024;
        yield randomBytes(64 * 1024);
      }
    } finally {
      closed = true;
    }
  };
  const output = bzip2Compress(endless());
  const first = await output.next();
  expect(first.done).toBe(false);
  // Pipes hold about 64 KiB each way and bzip2 one 100 kB block: an unread output stops the feeding early on.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(produced).toBeLessThan(8 * 1024 * 1024);
  expect(bzip2Children()).toHaveLength(1);
  await output.return(undefined);
  await expect.poll(bzip2Children).toEqual([]);
  await expect.poll(() => closed).toBe(true);
});
