// The narinfo-path cache: hits skip the inner service, puts are seen at once, entries expire and are bounded.
import { describe, expect, it, vi } from 'vitest';
import { B3Digest } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { CachingPathInfoService, MemoryPathInfoService, type PathInfo, type PathInfoCachePeers, type PathInfoService } from '../../src/store/index.js';

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

/** An inner service whose gets answer with what it held when asked, but only once `release` is called. */
function held() {
  const inner = new MemoryPathInfoService();
  const gates: (() => void)[] = [];
  const service: PathInfoService = {
    get: async (digest) => {
      const answer = await inner.get(digest);
      await new Promise<void>((resolve) => gates.push(resolve));
      return answer;
    },
    put: (i) => inner.put(i),
    list: () => inner.list(),
  };
  const release = () => {
    for (const open of gates.splice(0)) open();
  };
  return { inner, service, release, asked: () => gates.length };
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

  it('answers a repeated miss from memory for missTtlMs only, so a path written past the cache is found soon after', async () => {
    const { inner, get } = counting();
    const cache = new CachingPathInfoService(inner, { missTtlMs: 50 });
    expect(await cache.get(A.storePath.digest)).toBeNull();
    await inner.put(A); // behind the cache's back
    expect(await cache.get(A.storePath.digest)).toBeNull();
    expect(get).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await cache.get(A.storePath.digest))?.narSize).toBe(128);
  });

  it('with missTtlMs 0 never remembers a miss', async () => {
    const { inner } = counting();
    const cache = new CachingPathInfoService(inner, { missTtlMs: 0 });
    expect(await cache.get(A.storePath.digest)).toBeNull();
    await inner.put(A);
    expect((await cache.get(A.storePath.digest))?.narSize).toBe(128);
  });

  it('finds a path put through it, or through a peer, at once after a miss', async () => {
    const { inner } = counting();
    const [one, two] = peeredCaches(inner, 2);
    expect(await one?.get(A.storePath.digest)).toBeNull();
    expect(await two?.get(A.storePath.digest)).toBeNull();
    await one?.put(A);
    expect((await one?.get(A.storePath.digest))?.narSize).toBe(128);
    expect((await two?.get(A.storePath.digest))?.narSize).toBe(128);
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

  it('does not keep the old answer of a get that was in flight while a put landed', async () => {
    const { inner, service, release, asked } = held();
    await inner.put(A);
    const cache = new CachingPathInfoService(service);
    const early = cache.get(A.storePath.digest);
    await vi.waitFor(() => expect(asked()).toBe(1));
    await cache.put(info('00bgd045z0d4icpbc2yyz4gx48ak44la', 256));
    release();
    expect((await early)?.narSize).toBe(128); // its answer, from before the put
    const late = cache.get(A.storePath.digest);
    await vi.waitFor(() => expect(asked()).toBe(1)); // asked again, not served the old entry
    release();
    expect((await late)?.narSize).toBe(256);
  });

  it('finds a path put while a get that missed it was in flight', async () => {
    const { service, release, asked } = held();
    const cache = new CachingPathInfoService(service);
    const early = cache.get(A.storePath.digest);
    await vi.waitFor(() => expect(asked()).toBe(1));
    await cache.put(A);
    release();
    expect(await early).toBeNull();
    const late = cache.get(A.storePath.digest);
    await vi.waitFor(() => expect(asked()).toBe(1));
    release();
    expect((await late)?.narSize).toBe(128);
  });

  it('makes a put through one cache seen at once through every peer sharing the store', async () => {
    const { inner } = counting();
    await inner.put(A);
    const [one, two] = peeredCaches(inner, 2);
    expect((await one?.get(A.storePath.digest))?.narSize).toBe(128);
    expect((await two?.get(A.storePath.digest))?.narSize).toBe(128); // both now hold it
    await one?.put(info('00bgd045z0d4icpbc2yyz4gx48ak44la', 256));
    expect((await two?.get(A.storePath.digest))?.narSize).toBe(256);
  });

  it('waits for the peers to forget before a put resolves', async () => {
    const { inner } = counting();
    let forgotten = false;
    const peers: PathInfoCachePeers = {
      changed: async () => {
        await new Promise((r) => setTimeout(r, 20));
        forgotten = true;
      },
      subscribe: () => undefined,
    };
    await new CachingPathInfoService(inner, { peers }).put(A);
    expect(forgotten).toBe(true);
  });
});

/** `count` caches over one inner service, each told of the others' puts as worker processes are. */
function peeredCaches(inner: PathInfoService, count: number): CachingPathInfoService[] {
  const listeners: Array<(digest: Uint8Array) => void> = [];
  return Array.from({ length: count }, (_, i) => {
    const peers: PathInfoCachePeers = {
      changed: async (digest) => {
        for (const [j, forget] of listeners.entries()) if (j !== i) forget(digest);
      },
      subscribe: (forget) => listeners.push(forget),
    };
    return new CachingPathInfoService(inner, { peers });
  });
}
