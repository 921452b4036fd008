// LocalChunkIndex reads its u64 chunk sizes with the one checked uint64 conversion.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { blake3, LocalChunkIndex } from '../../src/castore/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

it('refuses a chunk index listing a size a number cannot hold, rather than rounding it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'chunk-index-'));
  dirs.push(dir);
  const index = new LocalChunkIndex(dir);
  const blob = blake3(Buffer.from('blob'));
  const chunk = { digest: blake3(Buffer.from('chunk')), size: Number.MAX_SAFE_INTEGER };
  await index.put(blob, [chunk]);
  expect(await index.get(blob)).toEqual([chunk]);

  const file = join(dir, blob.toHex().slice(0, 2), blob.toHex());
  const bytes = await readFile(file);
  bytes.writeBigUInt64LE(2n ** 53n + 1n, 32);
  await writeFile(file, bytes);
  await expect(index.get(blob)).rejects.toMatchObject({ code: 'NB_ERR_STORAGE', message: expect.stringContaining('damaged') });
});
