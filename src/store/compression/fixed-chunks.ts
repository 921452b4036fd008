// Re-cuts a byte stream into chunks of one size, as block-framing encoders need: each block's header states its
// length before its bytes, and equal blocks make the framed size a function of the input size alone.

/**
 * `source` as chunks of exactly `size` bytes, the last one shorter (and none for empty input). Holds at most one
 * chunk; input already that large passes through uncopied.
 */
export async function* fixedChunks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array, void, undefined> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.byteLength) {
      if (filled === 0 && chunk.byteLength - at >= size) {
        yield chunk.subarray(at, at + size);
        at += size;
        continue;
      }
      const n = Math.min(size - filled, chunk.byteLength - at);
      buffer.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        yield buffer;
        // A fresh buffer: the consumer may still hold the one just yielded.
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}
