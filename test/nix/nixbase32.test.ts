import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeNixBase32, encodeNixBase32 } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

// Produced by Nix 2.8: `nix-hash --type <algo> --to-base32 <hex>` on the digests of "abc" (and of "" for sha256).
const VECTORS: [label: string, digest: Buffer, nixBase32: string][] = [
  ['sha256("")', createHash('sha256').digest(), '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'],
  ['md5("abc")', createHash('md5').update('abc').digest(), '3jgzhjhz9zjvbb0kyj7jc500ch'],
  ['sha1("abc")', createHash('sha1').update('abc').digest(), 'kpcd173cq987hw957sx6m0868wv3x6d9'],
  ['sha256("abc")', createHash('sha256').update('abc').digest(), '1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s'],
  [
    'sha512("abc")',
    createHash('sha512').update('abc').digest(),
    '2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876blyk1jfhkbbyx',
  ],
];

describe('nix-base32', () => {
  it.each(VECTORS)('encodes and decodes %s as Nix does', (_label, digest, text) => {
    expect(encodeNixBase32(digest)).toBe(text);
    expect(Buffer.from(decodeNixBase32(text)).equals(digest)).toBe(true);
  });

  it('round-trips random bytes of every length from 0 to 70', () => {
    for (let length = 0; length <= 70; length++) {
      const bytes = randomBytes(length);
      const text = encodeNixBase32(bytes);
      expect(text).toHaveLength(Math.ceil((length * 8) / 5));
      expect(Buffer.from(decodeNixBase32(text)).equals(bytes)).toBe(true);
    }
  });

  it.each(['e', 'o', 'u', 't', 'A', '/', ' ', '-'])('rejects the character %j', (char) => {
    const text = `${char}mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73`;
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => decodeNixBase32(text));
  });

  it('rejects non-zero bits beyond the last byte', () => {
    // 52 characters carry 260 bits for 256: a leading digit above 1 sets padding bits.
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => decodeNixBase32('2mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'));
    expect(() => decodeNixBase32('1mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73')).not.toThrow();
  });

  it.each([1, 3, 6, 9, 51])('rejects a length no byte count encodes to (%i)', (length) => {
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => decodeNixBase32('0'.repeat(length)));
  });
});
