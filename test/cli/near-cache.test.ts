// --cache-max-size wiring: the cache goes in front of a blob service given by URL, and only there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { MemoryBlobService, TieredBlobService } from '../../src/castore/index.js';
import { withNearCache } from '../../src/cli/near-cache.js';

const observer = { served: () => undefined, fetched: () => undefined, size: () => undefined, evicted: () => undefined };
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test('without --blob-service-addr the cache is refused: the embedded store is the store, not a cache of one', () => {
  expect(() => withNearCache('/nonexistent', 64 * 1024 * 1024, {}, observer)).toThrow(/--cache-max-size caches the blob service of --blob-service-addr/);
});

test('with one, blobs are that service behind a cache in DATA_DIR/near-cache; without a cap nothing changes', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nb-near-'));
  dirs.push(dataDir);
  const blobs = new MemoryBlobService();
  expect(withNearCache(dataDir, null, { blobs }, observer).services.blobs).toBe(blobs);
  const cached = withNearCache(dataDir, 64 * 1024 * 1024, { blobs }, observer);
  expect(cached.services.blobs).toBeInstanceOf(TieredBlobService);
  await cached.close();
});
