import { describe, expect, it } from 'vitest';
import { formatContentAddress, NixHash, parseContentAddress } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

const B32 = '1kr6h9rkk2rhyj35isglsf55m1nz9lybi1m2k2sv6iwb8i6didhx';
const HEX = NixHash.parse(`sha256:${B32}`).toHex();
const BASE64 = NixHash.parse(`sha256:${B32}`).toSri().slice('sha256-'.length);

describe('content addresses', () => {
  it.each([
    ['text', `text:sha256:${B32}`],
    ['flat', `fixed:sha256:${B32}`],
    ['nar', `fixed:r:sha256:${B32}`],
    ['flat', 'fixed:sha1:kpcd173cq987hw957sx6m0868wv3x6d9'],
    ['nar', 'fixed:r:md5:3jgzhjhz9zjvbb0kyj7jc500ch'],
  ])('parses a %s address and formats it back: %s', (method, text) => {
    const ca = parseContentAddress(text);
    expect(ca.method).toBe(method);
    expect(formatContentAddress(ca)).toBe(text);
  });

  it.each([`fixed:r:sha256:${HEX}`, `fixed:r:sha256:${BASE64}`])('accepts other encodings and writes nix-base32: %s', (text) => {
    expect(formatContentAddress(parseContentAddress(text))).toBe(`fixed:r:sha256:${B32}`);
  });

  it.each([
    ['an unknown prefix', `bogus:sha256:${B32}`],
    ['no prefix', `sha256:${B32}`],
    ['text with sha1', 'text:sha1:kpcd173cq987hw957sx6m0868wv3x6d9'],
    ['an SRI hash', `fixed:r:sha256-${BASE64}`],
    ['no algorithm', `fixed:${B32}`],
    ['a bad digest', `fixed:sha256:${B32.slice(1)}e`],
    ['a method but no hash', 'fixed:r:'],
    ['empty', ''],
  ])('rejects %s', (_label, text) => {
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => parseContentAddress(text));
  });
});
