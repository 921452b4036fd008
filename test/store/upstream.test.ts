// Pull-through from upstream Nix caches: a real HTTP cache on 127.0.0.1, real castore services, real signatures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService } from '../../src/castore/index.js';
import { generateSigningKey, parseStorePathHashPart } from '../../src/nix/index.js';
import { MemoryPathInfoService, planNar, type PathInfoService } from '../../src/store/index.js';
import {
  BinaryCacheClient,
  parseUpstreamUrl,
  UpstreamPathInfoService,
  type UpstreamObserver,
  type UpstreamOutcome,
  type UpstreamSettings,
} from '../../src/store/pathinfo/nix-http/index.js';
import { collectBytes } from '../nar/nar-bytes.js';
import { TESTDATA } from './golden.js';
import { startStaticCache, type StaticCache } from './upstream-cache-fixture.js';

const COMPLICATED = new Uint8Array(readFileSync(join(TESTDATA, 'complicated.nar')));
const BIG = new Uint8Array(readFileSync(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar')));
const KEY = generateSigningKey('upstream-1');
const OTHER_KEY = generateSigningKey('upstream-1'); // same name, different key: a forged signature
const PATH_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-complicated';
const PATH_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-big';

const caches: StaticCache[] = [];
afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
});

async function cache(): Promise<StaticCache> {
  const c = await startStaticCache();
  caches.push(c);
  return c;
}

class CountingObserver implements UpstreamObserver {
  readonly outcomes: UpstreamOutcome[] = [];
  bytes = 0;
  asked(_upstream: string, outcome: UpstreamOutcome): void {
    this.outcomes.push(outcome);
  }
  received(_upstream: string, bytes: number): void {
    this.bytes += bytes;
  }
}

function setup(caches: readonly StaticCache[], settings: Partial<UpstreamSettings> = {}, timeouts = { narInfoMs: 5_000, narIdleMs: 5_000 }) {
  const castore = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
  const inner: PathInfoService = new MemoryPathInfoService();
  const observer = new CountingObserver();
  const clients = caches.map(
    (c, i) =>
      new BinaryCacheClient(parseUpstreamUrl(`${c.url}?trusted-public-keys=${encodeURIComponent(KEY.publicKey().toString())}&priority=${10 + i}`), timeouts),
  );
  const service = new UpstreamPathInfoService(inner, castore, clients, { missTtlMs: 60_000, observer, ...settings });
  return { castore, inner, observer, service };
}

describe('UpstreamPathInfoService', () => {
  test.each(['none', 'xz', 'br'] as const)('a miss pulls a signed %s NAR, verifies it and stores it with its signatures', async (compression) => {
    const up = await cache();
    const storePath = up.add(PATH_A, COMPLICATED, { key: KEY, compression });
    const { castore, inner, observer, service } = setup([up]);

    const info = await service.get(storePath.digest);
    expect(info?.storePath.basename).toBe(PATH_A);
    expect(info?.signatures.map(String)).toEqual([KEY.sign(`1;/nix/store/${PATH_A};${info?.narHash.toString()};${COMPLICATED.length};`).toString()]);
    expect((await inner.get(storePath.digest))?.narSize).toBe(COMPLICATED.length);
    // The castore objects are all there: the NAR renders back byte for byte.
    const plan = await planNar(info!.node, castore);
    expect(Buffer.from(await collectBytes(plan.stream())).equals(COMPLICATED)).toBe(true);
    expect(observer.outcomes).toEqual(['hit']);
    expect(observer.bytes).toBeGreaterThan(0);

    // Held now: answered without asking the upstream again.
    await service.get(storePath.digest);
    expect(up.requests.get(`/${storePath.hashPart}.narinfo`)).toBe(1);
  });

  test('concurrent requests for one path share one download', async () => {
    const up = await cache();
    const storePath = up.add(PATH_B, BIG, { key: KEY, compression: 'xz' });
    const { service } = setup([up]);
    const results = await Promise.all(Array.from({ length: 8 }, () => service.get(storePath.digest)));
    expect(results.every((r) => r?.narSize === BIG.length)).toBe(true);
    expect(up.requests.get(`/${storePath.hashPart}.narinfo`)).toBe(1);
    const narRequests = [...up.requests].filter(([p]) => p.startsWith('/nar/'));
    expect(narRequests).toEqual([[expect.stringMatching(/\.nar\.xz$/), 1]]);
  });

  test('a narinfo signed by an untrusted key is refused before its NAR is downloaded, and nothing is stored', async () => {
    const up = await cache();
    const storePath = up.add(PATH_A, COMPLICATED, { key: OTHER_KEY, compression: 'none' });
    const { inner, observer, service } = setup([up]);
    expect(await service.get(storePath.digest)).toBeNull();
    expect(await inner.get(storePath.digest)).toBeNull();
    expect(observer.outcomes).toEqual(['refused']);
    expect([...up.requests.keys()].some((p) => p.startsWith('/nar/'))).toBe(false);
  });

  test('a NAR that does not match its signed NarHash is refused and no PathInfo is stored', async () => {
    const up = await cache();
    const storePath = up.add(PATH_A, BIG, { key: KEY, compression: 'br', claimedNar: COMPLICATED });
    const { inner, observer, service } = setup([up]);
    expect(await service.get(storePath.digest)).toBeNull();
    expect(await inner.get(storePath.digest)).toBeNull();
    expect(observer.outcomes).toEqual(['refused']);
  });

  test('a miss is remembered for the TTL, then asked again', async () => {
    const up = await cache();
    const hashPart = 'cccccccccccccccccccccccccccccccc';
    const digest = parseStorePathHashPart(hashPart);
    const remembering = setup([up]).service;
    expect(await remembering.get(digest)).toBeNull();
    expect(await remembering.get(digest)).toBeNull();
    expect(up.requests.get(`/${hashPart}.narinfo`)).toBe(1);

    const forgetting = setup([up], { missTtlMs: 0 }).service;
    await forgetting.get(digest);
    await forgetting.get(digest);
    expect(up.requests.get(`/${hashPart}.narinfo`)).toBe(3);
  });

  test('a hung upstream times out as a miss, and never delays paths already held', async () => {
    const up = await cache();
    const held = await cache();
    const storePath = held.add(PATH_A, COMPLICATED, { key: KEY, compression: 'none' });
    const missing = 'dddddddddddddddddddddddddddddddd';
    up.hang.add(`/${missing}.narinfo`);
    up.hang.add(`/${storePath.hashPart}.narinfo`);
    const { inner, observer, service } = setup([up], {}, { narInfoMs: 300, narIdleMs: 300 });
    const heldInfo = await setup([held]).service.get(storePath.digest);
    await inner.put(heldInfo!);

    const started = Date.now();
    expect(await service.get(storePath.digest)).not.toBeNull();
    expect(up.requests.get(`/${storePath.hashPart}.narinfo`)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(300);
    expect(await service.get(parseStorePathHashPart(missing))).toBeNull();
    expect(observer.outcomes).toEqual(['failed']);
  });

  test('upstreams are asked in priority order and a lower one fills what the first lacks', async () => {
    const first = await cache();
    const second = await cache();
    const storePath = second.add(PATH_A, COMPLICATED, { key: KEY, compression: 'none' });
    const { observer, service } = setup([second, first].reverse()); // first gets priority 10, second 11
    expect((await service.get(storePath.digest))?.storePath.basename).toBe(PATH_A);
    expect(observer.outcomes).toEqual(['miss', 'hit']);
  });
});

describe('parseUpstreamUrl', () => {
  const key = KEY.publicKey().toString();
  test.each([
    [`http://127.0.0.1:8080?trusted-public-keys=${encodeURIComponent(key)}`, 'http://127.0.0.1:8080', 50],
    [`https://cache.example/sub/dir/?trusted-public-keys=${key}%20${key}&priority=5`, 'https://cache.example/sub/dir', 5],
  ])('%s', (raw, baseUrl, priority) => {
    const cache = parseUpstreamUrl(raw);
    expect(cache).toMatchObject({ baseUrl, priority });
    expect(cache.trustedKeys[0]?.toString()).toBe(key);
  });

  test.each([
    'ftp://host?trusted-public-keys=x:y',
    'http://host',
    `http://host?trusted-public-keys=${key}&priority=-1`,
    `http://host?trusted-public-keys=${key}&foo=1`,
    'http://host?trusted-public-keys=notakey',
    'not a url',
  ])('refuses %s', (raw) => {
    expect(() => parseUpstreamUrl(raw)).toThrow(expect.objectContaining({ code: 'NB_ERR_CONFIG' }));
  });
});
