// One pass over the buffered bytes of a blob being chunked: FastCDC's cut points, each chunk's blake3 and the whole
// blob's blake3 fed chunk by chunk, so every byte is read once for all three. The same function runs on the chunking
// thread (chunking-thread.ts) and inline (chunk-cutter.ts), so where it runs never changes a boundary or a digest.
import { blake3, type Blake3Hasher } from '../digest.js';
import { chunkLength, type ChunkingParams } from './fastcdc.js';

/** A chunk cut: its length from where the previous one ended, and its blake3. */
export interface Cut {
  readonly length: number;
  readonly digest: Uint8Array;
}

/**
 * Cuts `data[from..to)` into chunks from `from` on while more than a maximum chunk is left (a chunk's end then depends
 * only on bytes already here), or all of it when `final`. The bytes after the last cut wait for more.
 */
export function scanChunks(data: Uint8Array, from: number, to: number, final: boolean, params: ChunkingParams, whole: Blake3Hasher): Cut[] {
  const cuts: Cut[] = [];
  let at = from;
  while (final ? at < to : to - at > params.maxSize) {
    const length = chunkLength(data, at, to, params);
    const chunk = data.subarray(at, at + length);
    whole.update(chunk);
    cuts.push({ length, digest: blake3(chunk).bytes });
    at += length;
  }
  return cuts;
}

/** What the chunking thread is asked: scan a writer's bytes (see scanChunks), or forget a writer that gave up. */
export type ScanRequest =
  | {
      readonly op: 'scan';
      readonly id: number;
      readonly writer: number;
      readonly buffer: SharedArrayBuffer;
      readonly from: number;
      readonly to: number;
      readonly final: boolean;
      readonly params: ChunkingParams;
    }
  | { readonly op: 'drop'; readonly writer: number };

/** The thread's answer to a scan: the cuts, and with the final scan the whole blob's digest; or why it failed. */
export type ScanReply = { readonly id: number; readonly cuts: Cut[]; readonly whole?: Uint8Array } | { readonly id: number; readonly error: string };
