// The narinfo-path cache: hits skip the inner service, puts are seen at once, entries expire and are bounded.
import { describe, expect, it, vi } from 'vitest';
import { B3Digest } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { CachingPathInfoService, MemoryPathInfoService, type PathInfo } from '../../src/store/index.js';

const info = (hashPart: string, narSize = 128): PathInfo => ({
  storePath: StorePath.parseBasename(`${hashPart}-p`),
  node: { kind: 'file', digest: B3Digest.fromHex('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c'), size: 12, executable: false },
  references: [],
  narHash: NixHash.parse('sha256:0grkpc553lbfym61cx48rj34i6r8zj39f98kd0gpyxayabk51z9q'),
  narSize,
  signatures: [],
});
const A = info('00bgd045z0d4icpbc2yyz4gx48ak44la');
const B = info('11bgd045z0d4icpbc2yyz4gx48ak44la');

function counting() {
  const inner = new MemoryPathInfoService();
  const get = vi.spyOn(inner, 'get');
  return { inner, get };
}

describe('CachingPathInfoService', () => {
  it('answers repeated lookups from memory, with the same object', async () => {
    const { inner, get } = counting();
    await inner.put(A);
    const cache = new CachingPathInfoService(inner);
    const first = await cache.get(A.storePath.digest);
    expect(await cache.get(A.storePath.digest)).toBe(first);
    expect(get).toHaveBeenCalledTimes(1);
  });

  it('does not remember misses, so a path that appears is found', async () => {
    const { inner } = counting();
    const cache = new CachingPathInfoService(inner);
    expect(await cache.get(A.storePath.digest)).toBeNull();
    await inner.put(A);
    expect((await cache.get(A.storePath.digest))?.narSize).toBe(128);
  });

  it('serves a put through it at once', async () => {
    const { inner } = counting();
    const cache = new CachingPathInfoService(inner);
    await cache.put(A);
    await cache.get(A.storePath.digest);
    await cache.put(info('00bgd045z0d4icpbc2yyz4gx48ak44la', 256));
    expect((await cache.get(A.storePath.digest))?.narSize).toBe(256);
  });

  it('asks again once an entry is older than its TTL', async () => {
    const { inner, get } = counting();
    await inner.put(A);
    const cache = new CachingPathInfoService(inner, { ttlMs: 0 });
    await cache.get(A.storePath.digest);
    await cache.get(A.storePath.digest);
    expect(get).toHaveBeenCalledTimes(2);
  });

  it('evicts the least recently used entry beyond its bound', async () => {
    const { inner, get } = counting();
    await inner.put(A);
    await inner.put(B);
    const cache = new CachingPathInfoService(inner, { maxEntries: 1 });
    await cache.get(A.storePath.digest);
    await cache.get(B.storePath.digest);
    await cache.get(A.storePath.digest);
    expect(get).toHaveBeenCalledTimes(3);
  });
});
