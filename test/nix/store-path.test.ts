import { describe, expect, it } from 'vitest';
import { parseStorePathHashPart, sortStorePaths, STORE_DIR, StorePath, storePathDigest, type StorePathDigest } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

const HASH = '00bgd045z0d4icpbc2yyz4gx48ak44la';
const BASENAME = `${HASH}-net-tools-1.60_p20170221182432`;

describe('StorePath', () => {
  it.each([
    ['an ordinary name', BASENAME, 'net-tools-1.60_p20170221182432'],
    ['every allowed character', `${HASH}-aZ09+-._?=`, 'aZ09+-._?='],
    ['a one-character name', `${HASH}-x`, 'x'],
    ['a 211-character name', `${HASH}-${'a'.repeat(211)}`, 'a'.repeat(211)],
    ['a .drv', `${HASH}-hello-2.12.drv`, 'hello-2.12.drv'],
  ])('parses a basename with %s', (_label, basename, name) => {
    const path = StorePath.parseBasename(basename);
    expect(path.name).toBe(name);
    expect(path.hashPart).toBe(HASH);
    expect(path.basename).toBe(basename);
    expect(path.toAbsolute()).toBe(`${STORE_DIR}/${basename}`);
  });

  it.each([
    ['..', '..'],
    ['a name of ".."', `${HASH}-..`],
    ['a name starting with "."', `${HASH}-.hidden`],
    ['a slash in the name', `${HASH}-foo/bar`],
    ['a space in the name', `${HASH}-foo bar`],
    ['a non-ASCII name', `${HASH}-füü`],
    ['a NUL in the name', `${HASH}-a\0b`],
    ['a 212-character name', `${HASH}-${'a'.repeat(212)}`],
    ['an empty name', `${HASH}-`],
    ['no dash after the hash', `${HASH}_name`],
    ['a 31-character hash', `${HASH.slice(1)}-name`],
    ['a hash with "e"', `${HASH.slice(0, -1)}e-name`],
    ['an upper-case hash', `${HASH.toUpperCase()}-name`],
    ['a full path', `${STORE_DIR}/${BASENAME}`],
    ['nothing', ''],
  ])('rejects a basename with %s', (_label, basename) => {
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => StorePath.parseBasename(basename));
  });

  it('parses absolute paths in the default and in another store directory', () => {
    expect(StorePath.parseAbsolute(`/nix/store/${BASENAME}`).basename).toBe(BASENAME);
    const other = StorePath.parseAbsolute(`/gnu/store/${BASENAME}`, '/gnu/store');
    expect(other.toAbsolute('/gnu/store')).toBe(`/gnu/store/${BASENAME}`);
    expect(other.toAbsolute()).toBe(`/nix/store/${BASENAME}`);
  });

  it.each([
    ['a path below a store path', `/nix/store/${BASENAME}/bin/ifconfig`],
    ['a trailing slash', `/nix/store/${BASENAME}/`],
    ['another store directory', `/foo/store/${BASENAME}`],
    ['a relative path', `nix/store/${BASENAME}`],
    ['a bare basename', BASENAME],
    ['a double slash', `/nix/store//${BASENAME}`],
    ['a dot-dot segment', `/nix/store/../store/${BASENAME}`],
    ['the store directory itself', '/nix/store'],
    ['a store directory prefix', `/nix/storex/${BASENAME}`],
  ])('rejects an absolute path with %s', (_label, path) => {
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => StorePath.parseAbsolute(path));
  });

  it('builds from parts and compares by digest and name', () => {
    const path = StorePath.parseBasename(BASENAME);
    const same = StorePath.fromParts(parseStorePathHashPart(HASH), path.name);
    expect(same.equals(path)).toBe(true);
    expect(StorePath.fromParts(path.digest, 'other').equals(path)).toBe(false);
    expect(StorePath.fromParts(new Uint8Array(20), path.name).equals(path)).toBe(false);
  });

  it('rejects parts with a wrong digest length or a bad name', () => {
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => StorePath.fromParts(new Uint8Array(32), 'x'));
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => StorePath.fromParts(new Uint8Array(20), 'a/b'));
  });

  it('sorts by basename, as Nix orders references', () => {
    const names = [`${HASH.replace('0', '1')}-a`, `${HASH}-b`, `${HASH}-a`];
    const sorted = sortStorePaths(names.map((name) => StorePath.parseBasename(name)));
    expect(sorted.map((path) => path.basename)).toEqual([`${HASH}-a`, `${HASH}-b`, `${HASH.replace('0', '1')}-a`]);
  });
});

describe('parseStorePathHashPart', () => {
  it('decodes 32 nix-base32 characters to 20 bytes', () => {
    expect(parseStorePathHashPart(HASH)).toHaveLength(20);
  });

  it.each([HASH.slice(1), `${HASH}0`, `${HASH.slice(0, -1)}e`, ''])('rejects %j', (hashPart) => {
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => parseStorePathHashPart(hashPart));
  });
});

describe('storePathDigest', () => {
  it('brands exactly 20 bytes, and only those', () => {
    const digest: StorePathDigest = storePathDigest(new Uint8Array(20).fill(3));
    expect(Array.from(digest)).toEqual(new Array(20).fill(3));
    expect(StorePath.parseBasename(BASENAME).digest).toEqual(parseStorePathHashPart(HASH));
    for (const length of [0, 19, 21, 32]) expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => storePathDigest(new Uint8Array(length)));
  });

  it('is a type other bytes do not pass for', () => {
    // @ts-expect-error a plain Uint8Array is not a StorePathDigest until storePathDigest() checked it
    const unchecked: StorePathDigest = new Uint8Array(20);
    expect(unchecked).toHaveLength(20);
  });
});
