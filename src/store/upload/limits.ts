// Limits on one NAR upload, enforced while it streams in: file and NAR size, decompression ratio, and
// the NAR reader's shape limits. A refused upload stops at the first byte over the limit.
import { NarBridgeError } from '../../errors.js';
import { DEFAULT_NAR_LIMITS, type NarLimits } from '../../nar/index.js';

export interface UploadLimits {
  /** Bytes, for the uploaded file and for the NAR it decompresses to. */
  readonly maxNarSize: number;
  /** Decompressed bytes per uploaded byte, once past `RATIO_FREE_BYTES`. */
  readonly maxDecompressionRatio: number;
  readonly nar: NarLimits;
}

/** Larger than the biggest NARs in common caches (CUDA, TeX Live: a few GiB), small enough to bound a disk. */
export const DEFAULT_MAX_NAR_SIZE = 64 * 1024 ** 3;
/**
 * Real NARs compress 3–20× and rarely beyond 100× (xz of text); a bomb made of zeros reaches 1000×
 * (gzip) to 10⁶× (xz, zstd). Bounding the ratio stops a small upload from costing unbounded work.
 */
export const DEFAULT_MAX_DECOMPRESSION_RATIO = 1000;
/** Small NARs of zeros or repeated text legitimately compress past any ratio; below this they are not checked. */
const RATIO_FREE_BYTES = 16 * 1024 * 1024;

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxNarSize: DEFAULT_MAX_NAR_SIZE,
  maxDecompressionRatio: DEFAULT_MAX_DECOMPRESSION_RATIO,
  nar: DEFAULT_NAR_LIMITS,
};

/** Passes `source` through, refusing it once more than `maxBytes` went by. */
export async function* capUploadSize(source: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array, void, undefined> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > maxBytes) throw new NarBridgeError('NB_ERR_TOO_LARGE', `upload larger than the ${maxBytes}-byte limit`);
    yield chunk;
  }
}

/**
 * Passes the decompressed NAR through, refusing it once it is larger than `maxNarSize` or than
 * `maxDecompressionRatio` times the compressed bytes read so far (`compressedBytes()`).
 */
export async function* capExpansion(
  decompressed: AsyncIterable<Uint8Array>,
  compressedBytes: () => number,
  { maxNarSize, maxDecompressionRatio }: UploadLimits,
): AsyncGenerator<Uint8Array, void, undefined> {
  let size = 0;
  for await (const chunk of decompressed) {
    size += chunk.byteLength;
    if (size > maxNarSize) throw new NarBridgeError('NB_ERR_TOO_LARGE', `NAR larger than the ${maxNarSize}-byte limit`);
    if (size > RATIO_FREE_BYTES && size > maxDecompressionRatio * compressedBytes()) {
      throw new NarBridgeError('NB_ERR_TOO_LARGE', `NAR decompresses to more than ${maxDecompressionRatio} times its upload size`);
    }
    yield chunk;
  }
}
