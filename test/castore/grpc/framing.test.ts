// gRPC length-prefixed messages cut out of DATA chunks however the chunks fall, and refused when a peer sends what
// we never negotiated (compression) or what we never accept (a message over the limit).
import { describe, expect, it } from 'vitest';
import { FramingError, frameMessage, MessageDecoder } from '../../../src/castore/grpc/framing.js';

const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
const wire = Buffer.concat(messages.map(frameMessage));

describe('MessageDecoder', () => {
  it.each([1, 2, 5, 6, 1000, 16_384, wire.byteLength])('cuts messages out of %i-byte chunks', (size) => {
    const decoder = new MessageDecoder(1 << 20);
    const out: Buffer[] = [];
    for (let offset = 0; offset < wire.byteLength; offset += size) out.push(...decoder.push(wire.subarray(offset, offset + size)));
    expect(out).toEqual(messages);
    expect(decoder.leftover).toBe(0);
  });

  it('counts the bytes of a message cut short', () => {
    const decoder = new MessageDecoder(1 << 20);
    expect(decoder.push(wire.subarray(0, 12))).toEqual([messages[0]]);
    expect(decoder.leftover).toBe(2);
  });

  it('refuses a compressed message and one over the limit', () => {
    const compressed = frameMessage(Buffer.from('x'));
    compressed[0] = 1;
    expect(() => new MessageDecoder(100).push(compressed)).toThrow(FramingError);
    const error = (() => {
      try {
        new MessageDecoder(100).push(frameMessage(Buffer.alloc(101)).subarray(0, 5));
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(error).toMatchObject({ tooLarge: true });
  });
});
