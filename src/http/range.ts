// Parsing a `Range: bytes=…` request header (RFC 9110 §14.2) for a body of known size.
import type { ByteRange } from '../store/index.js';

export type RangeRequest = { kind: 'whole' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

const WHOLE: RangeRequest = { kind: 'whole' };
const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * One range is served as asked; anything else we don't serve partially (several ranges, other units,
 * a malformed header) gets the whole body, which RFC 9110 allows.
 *
 * RFC 9110 tells an *invalid* range from an *unsatisfiable* one: `bytes=5-3` (last before first) is
 * invalid (§14.1.1), and a server ignores an invalid Range header and answers 200 with the whole body
 * (§14.2); only a valid range that starts at or past the end (or asks for the last 0 bytes) is
 * unsatisfiable, which is 416 (§15.5.17). NAR routes and the UI's file downloads both answer this way.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  const match = header === undefined ? null : SINGLE_RANGE.exec(header.trim());
  if (!match) return WHOLE;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return WHOLE;
  let start: number;
  let end: number;
  if (first === '') {
    // bytes=-N: the last N bytes
    const suffix = Number(last);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return WHOLE; // invalid, not unsatisfiable: see above
  }
  if (start >= size || !Number.isSafeInteger(start)) return { kind: 'unsatisfiable' };
  return { kind: 'range', range: { start, end } };
}
