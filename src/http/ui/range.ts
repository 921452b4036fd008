// One byte range from a Range header (RFC 9110 §14): enough for resuming downloads and media seeking.

export type ByteRange = { readonly start: number; readonly end: number }; // inclusive end

/** null: serve the whole file (no header, or one we don't handle such as multiple ranges); 'unsatisfiable': 416. */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** The bytes of `source` from `start` to `end` inclusive; stops reading once past `end`. */
export async function* sliceBytes(source: AsyncIterable<Uint8Array>, { start, end }: ByteRange): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for await (const chunk of source) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end + 1 - offset, chunk.byteLength);
    if (from < to) yield chunk.subarray(from, to);
    offset += chunk.byteLength;
    if (offset > end) return;
  }
}
