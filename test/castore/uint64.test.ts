// uint64ToNumber: the one checked conversion of a protobufjs uint64 (number or Long) to a JS number.
import { describe, expect, it } from 'vitest';
import { uint64ToNumber } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { tvix } from '../../src/proto/index.js';

/** What protobufjs decodes a FileNode size field into: a Long once past 32 bits when `long` is installed. */
const decodedSize = (size: bigint) => {
  const varint: number[] = [];
  for (let rest = size; ; rest >>= 7n) {
    if (rest < 128n) {
      varint.push(Number(rest));
      break;
    }
    varint.push(Number(rest & 127n) | 128);
  }
  return tvix.castore.v1.FileNode.decode(Uint8Array.from([0x18, ...varint])).size;
};

describe('uint64ToNumber', () => {
  it.each([0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 52n + 3n, 2n ** 53n - 1n])('converts %s exactly', (size) => {
    expect(uint64ToNumber(decodedSize(size), 'file size')).toBe(Number(size));
  });

  it('reads an unset field as 0', () => {
    expect(uint64ToNumber(null, 'x')).toBe(0);
    expect(uint64ToNumber(undefined, 'x')).toBe(0);
  });

  it.each([2n ** 53n, 2n ** 64n - 1n])('refuses %s, which a number cannot hold exactly, naming the field and the value', (size) => {
    const attempt = () => uint64ToNumber(decodedSize(size), 'NAR size');
    expect(attempt).toThrow(NarBridgeError);
    expect(attempt).toThrow(`NAR size ${size} is above 2^53-1`);
  });

  it('converts a bigint (read from our own files) with the same check', () => {
    expect(uint64ToNumber(2n ** 53n - 1n, 'chunk size')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => uint64ToNumber(2n ** 64n - 1n, 'chunk size')).toThrow('chunk size 18446744073709551615 is above 2^53-1');
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('refuses the number %d', (n) => {
    expect(() => uint64ToNumber(n, 'chunk size')).toThrow(/chunk size/);
  });
});
