// `nar-bridge info` on the data dir of a live server must not break the server's uploads in flight.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { blake3, LocalBlobService, openDatabase } from '../../src/castore/index.js';

const CLI = fileURLToPath(new URL('../../bin/nar-bridge.js', import.meta.url));

test('a blob write open while `nar-bridge info` runs on the same data dir still lands', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'nar-bridge-info-'));
  try {
    openDatabase(join(dataDir, 'meta.sqlite')).close(); // a store exists here: info refuses a dir without one
    const blobs = new LocalBlobService(join(dataDir, 'blobs')); // as the server's store opens it
    const writer = blobs.openWrite();
    await writer.write(new Uint8Array(1000).fill(7));
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'info', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(stdout)).toMatchObject({ dataDir });
    await writer.write(new Uint8Array(1000).fill(8));
    const digest = await writer.close();
    expect(digest.equals(blake3(new Uint8Array(2000).fill(7, 0, 1000).fill(8, 1000)))).toBe(true);
    expect(await blobs.has(digest)).toBe(true);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}, 30_000);
