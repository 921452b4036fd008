import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { ingestNar, NarCalculator } from '../../src/store/index.js';
import { nar, str } from '../nar/nar-bytes.js';

async function* once(bytes: Uint8Array) {
  yield bytes;
}

const narBytes = nar(
  'nix-archive-1',
  '(',
  'type',
  'directory',
  'entry',
  '(',
  'name',
  'a',
  'node',
  '(',
  'type',
  'regular',
  'contents',
  str('hi\n'),
  ')',
  ')',
  ')',
);

describe('NarCalculator', () => {
  it('gives NarSize and the digest under any algorithm of the NAR a node renders to', async () => {
    const castore: Castore = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
    const { node } = await ingestNar(once(narBytes), castore);
    const calculator = new NarCalculator(castore);
    const facts = await calculator.calculate(node);
    expect(facts.narSize).toBe(narBytes.byteLength);
    expect(Buffer.from(facts.narSha256).toString('hex')).toBe(createHash('sha256').update(narBytes).digest('hex'));
    for (const algo of ['sha1', 'sha256', 'sha512'] as const) {
      expect(Buffer.from(await calculator.digest(node, algo)).toString('hex')).toBe(createHash(algo).update(narBytes).digest('hex'));
    }
  });
});
