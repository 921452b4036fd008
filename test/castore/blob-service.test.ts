// Runs the BlobService conformance suite on every local backend, plus LocalBlobService's on-disk layout.
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalBlobService, MemoryBlobService, blake3 } from '../../src/castore/index.js';
import { describeBlobService, patternBytes } from './blob-service-suite.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'nar-bridge-blobs-'));
}

describeBlobService('memory', async () => ({ service: new MemoryBlobService() }));

describeBlobService('local', async () => {
  const dir = await tempDir();
  return {
    service: new LocalBlobService(dir),
    tempFiles: () => readdir(join(dir, 'tmp')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalBlobService layout', () => {
  it('stores blobs at <dir>/<hex[0..2]>/<hex>', async () => {
    const dir = await tempDir();
    try {
      const blobs = new LocalBlobService(dir);
      const data = patternBytes(1000);
      const writer = blobs.openWrite();
      await writer.write(data);
      const hex = (await writer.close()).toHex();
      expect(await readdir(join(dir, hex.slice(0, 2)))).toEqual([hex]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('cleans leftover temp files at startup and keeps stored blobs', async () => {
    const dir = await tempDir();
    try {
      const first = new LocalBlobService(dir);
      const writer = first.openWrite();
      await writer.write(new Uint8Array([42]));
      const digest = await writer.close();
      await writeFile(join(dir, 'tmp', 'crashed-write'), 'partial');
      await mkdir(join(dir, 'tmp', 'stray-dir'));
      const second = new LocalBlobService(dir);
      expect(await readdir(join(dir, 'tmp'))).toEqual([]);
      expect(await second.size(digest)).toBe(1);
      expect(await second.has(blake3(new Uint8Array([43])))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
