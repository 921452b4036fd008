// Accept-Encoding negotiation: what Nix (no header), curl and browsers send, and the edge cases of RFC 9110.
import { describe, expect, it } from 'vitest';
import { TEXT_CODINGS, negotiateEncoding } from '../../src/http/encoding.js';

describe('negotiateEncoding', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['zstd', null],
    ['identity', null],
    ['deflate', null],
    ['*', 'br'],
    ['br;q=0, *', 'gzip'],
    ['br;q=0.5, gzip', 'gzip'],
    ['BR;Q=1, gzip;q=0.9', 'br'],
    ['gzip;q=0', null],
    ['*;q=0', null],
    [' gzip ; q=0.8 , br ; q=0.7', 'gzip'],
  ])('%j → %j', (header, expected) => {
    expect(negotiateEncoding(header, TEXT_CODINGS)).toBe(expected);
  });
});
