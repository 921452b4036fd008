// The embedded store a server opens: closing it commits what its pack engine still held for an automatic flush (the
// blobs a near tier filled from far), so a restart does not fetch them again.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openLocalStore } from '../../src/cli/open-store.js';
import { blake3 } from '../../src/castore/index.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

it('a blob written without a flush is still there after a clean close and reopen', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'nar-bridge-open-store-'));
  dirs.push(dataDir);
  const first = await openLocalStore(dataDir);
  const bytes = new TextEncoder().encode('filled from far, never flushed by hand');
  const writer = first.store.blobs.openWrite();
  await writer.write(bytes);
  const digest = await writer.close();
  expect(digest.equals(blake3(bytes))).toBe(true);
  await first.close();
  const second = await openLocalStore(dataDir);
  try {
    expect(await second.store.blobs.has(digest)).toBe(true);
  } finally {
    await second.close();
  }
});
