import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { encodeNodeText, ingestNar, planNar } from '../../src/store/index.js';
import { GOLDEN_NARS, TESTDATA } from './golden.js';

const memoryCastore = (): Castore => ({ blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });

async function* chunked(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe.each(GOLDEN_NARS)('golden NAR $file', (golden) => {
  it('ingests to the root node, NarHash and NarSize other implementations computed', async () => {
    const nar = await readFile(join(TESTDATA, golden.file));
    const result = await ingestNar(chunked(nar, 7), memoryCastore());
    expect(encodeNodeText(result.node)).toBe(golden.rootB64url);
    expect(result.narHash.toHex()).toBe(golden.sha256);
    expect(result.narSize).toBe(golden.size);
  });

  it('renders back byte for byte, with NarSize known before streaming', async () => {
    const nar = await readFile(join(TESTDATA, golden.file));
    const castore = memoryCastore();
    const { node } = await ingestNar(chunked(nar, 4096), castore);
    const plan = await planNar(node, castore);
    expect(plan.narSize).toBe(nar.byteLength);
    expect((await collect(plan.stream())).equals(nar)).toBe(true);
  });
});

describe('ingest failure', () => {
  it('stores no Directory when the NAR is truncated', async () => {
    const nar = await readFile(join(TESTDATA, 'complicated.nar'));
    const castore = memoryCastore();
    await expect(ingestNar(chunked(nar.subarray(0, nar.byteLength - 16), 64), castore)).rejects.toMatchObject({ code: 'NB_ERR_NAR_MALFORMED' });
    const { node } = await ingestNar(chunked(nar, 64), memoryCastore()); // learn the root digest elsewhere
    expect(node.kind).toBe('directory');
    if (node.kind === 'directory') expect(await castore.directories.get(node.digest)).toBeNull();
  });
});
