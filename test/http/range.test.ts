// parseRange: the one Range header parser, for NAR routes and the UI's file downloads (RFC 9110 §14).
import { describe, expect, it } from 'vitest';
import { parseRange } from '../../src/http/range.js';

describe('parseRange for a 100-byte body', () => {
  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=5-9', 5, 9],
    ['bytes=90-', 90, 99],
    ['bytes=95-500', 95, 99],
    ['bytes=-10', 90, 99],
    ['bytes=-500', 0, 99],
    [' bytes=1-2 ', 1, 2],
  ])('serves %s as bytes %i-%i', (header, start, end) => {
    expect(parseRange(header, 100)).toEqual({ kind: 'range', range: { start, end } });
  });

  // Invalid or unhandled specs are ignored (200 with the whole body), not refused: RFC 9110 §14.1.1, §14.2.
  it.each([undefined, '', 'bytes=5-3', 'bytes=-', 'bytes=0-1,5-6', 'items=0-1', 'bytes=a-b', 'bytes 0-1'])('ignores %s', (header) => {
    expect(parseRange(header, 100)).toEqual({ kind: 'whole' });
  });

  it.each(['bytes=100-', 'bytes=100-200', 'bytes=-0', `bytes=${'9'.repeat(30)}-`])('refuses %s as unsatisfiable', (header) => {
    expect(parseRange(header, 100)).toEqual({ kind: 'unsatisfiable' });
  });
});
