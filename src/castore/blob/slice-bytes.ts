// Skip-and-take over a byte stream: the one slicer behind blob reads from an offset and ranged responses.

/**
 * The bytes of `source` after its first `skip`, at most `take` of them. Skipped bytes are still read (a
 * caller that must verify the whole stream relies on that); once `take` bytes are out the source is
 * released without reading further.
 */
export async function* sliceBytes(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  skip: number,
  take = Number.POSITIVE_INFINITY,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (take <= 0) return;
  let toSkip = skip;
  let toTake = take;
  for await (const chunk of source) {
    if (toSkip >= chunk.byteLength) {
      toSkip -= chunk.byteLength;
      continue;
    }
    const end = Math.min(chunk.byteLength, toSkip + toTake);
    yield toSkip === 0 && end === chunk.byteLength ? chunk : chunk.subarray(toSkip, end);
    toTake -= end - toSkip;
    toSkip = 0;
    if (toTake === 0) return;
  }
}
