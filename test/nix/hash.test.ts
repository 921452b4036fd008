import { describe, expect, it } from 'vitest';
import { NixHash } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

const EMPTY_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY_NIXBASE32 = '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73';
const EMPTY_BASE64 = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

describe('NixHash', () => {
  it.each([
    ['nix-base32', `sha256:${EMPTY_NIXBASE32}`],
    ['base16', `sha256:${EMPTY_HEX}`],
    ['upper-case base16', `sha256:${EMPTY_HEX.toUpperCase()}`],
    ['base64', `sha256:${EMPTY_BASE64}`],
    ['SRI', `sha256-${EMPTY_BASE64}`],
  ])('parses sha256 in %s to the same digest', (_encoding, text) => {
    const hash = NixHash.parse(text);
    expect(hash.algo).toBe('sha256');
    expect(hash.toHex()).toBe(EMPTY_HEX);
    expect(hash.toString()).toBe(`sha256:${EMPTY_NIXBASE32}`);
    expect(hash.toSri()).toBe(`sha256-${EMPTY_BASE64}`);
  });

  it.each([
    ['md5', '900150983cd24fb0d6963f7d28e17f72', '3jgzhjhz9zjvbb0kyj7jc500ch'],
    ['sha1', 'a9993e364706816aba3e25717850c26c9cd0d89d', 'kpcd173cq987hw957sx6m0868wv3x6d9'],
  ])('parses %s by length', (algo, hex, nixBase32) => {
    expect(NixHash.parse(`${algo}:${hex}`).toString()).toBe(`${algo}:${nixBase32}`);
    expect(NixHash.parse(`${algo}:${nixBase32}`).toHex()).toBe(hex);
  });

  it('compares algorithm and digest', () => {
    const a = NixHash.parse(`sha256:${EMPTY_HEX}`);
    expect(a.equals(NixHash.parse(`sha256-${EMPTY_BASE64}`))).toBe(true);
    expect(a.equals(NixHash.fromDigest('sha256', new Uint8Array(32)))).toBe(false);
    expect(NixHash.fromDigest('sha1', new Uint8Array(20)).equals(NixHash.fromDigest('md5', new Uint8Array(16)))).toBe(false);
  });

  it.each([
    ['a Uint8Array', new Uint8Array(32)],
    // Buffer.prototype.slice returns a view, so copying with .slice() would share this memory.
    ['a Buffer', Buffer.alloc(32)],
  ])('keeps its own copy of the digest when given %s', (_label, digest) => {
    const hash = NixHash.fromDigest('sha256', digest);
    digest[0] = 1;
    expect(hash.digest[0]).toBe(0);
  });

  it.each([
    ['no algorithm', EMPTY_NIXBASE32],
    ['unknown algorithm', `sha3:${EMPTY_NIXBASE32}`],
    ['upper-case algorithm', `SHA256:${EMPTY_NIXBASE32}`],
    ['63 hex digits', `sha256:${EMPTY_HEX.slice(1)}`],
    ['51 nix-base32 digits', `sha256:${EMPTY_NIXBASE32.slice(1)}`],
    ['unpadded base64', `sha256:${EMPTY_BASE64.slice(0, -1)}`],
    ['a sha1 digest labelled sha256', 'sha256:a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['bad hex digit', `sha256:${EMPTY_HEX.slice(1)}g`],
    ['base64 with padding bits set', 'sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV='],
    ['SRI of the wrong length', 'sha256-qZk+NkcGgWq6PiVxeFDCbJzQ2J0='],
    ['SRI with a hex digest', `sha256-${EMPTY_HEX}`],
    ['empty', ''],
  ])('rejects %s', (_label, text) => {
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => NixHash.parse(text));
  });

  it('rejects a digest of the wrong length', () => {
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => NixHash.fromDigest('sha512', new Uint8Array(32)));
  });
});
