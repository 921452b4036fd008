// Build logs (`nix store copy-log --to`, `nix log --store`): each log is kept brotli-compressed as a blob, and a
// small index maps the .drv's store path to that blob, so a log is stored once however often it is uploaded.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createBrotliCompress } from 'node:zlib';
import type { B3Digest, BlobService, CallOptions } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { StorePath } from '../../nix/index.js';

/** drv store path → digest of the brotli-compressed log blob. */
export interface BuildLogIndex {
  get(drv: StorePath, opts?: CallOptions): Promise<B3Digest | null>;
  put(drv: StorePath, log: B3Digest, opts?: CallOptions): Promise<void>;
}

/**
 * Logs stream through, so this bounds disk use per upload rather than memory; Nix's own default
 * `max-build-log-size` is unlimited, and a 256 MiB log is already far beyond anything readable.
 */
export const MAX_BUILD_LOG_BYTES = 256 * 1024 * 1024;
/** Logs are written once and read rarely; quality 6 compresses text ~6:1 at tens of MB/s. */
const BROTLI_LOG_QUALITY = 6;

/** Parses the `<hash>-<name>.drv` basename a log URL names. */
export function parseDrvName(basename: string): StorePath {
  const drv = StorePath.parseBasename(basename);
  if (!drv.name.endsWith('.drv')) throw new NarBridgeError('NB_ERR_INVALID_NAME', 'build logs are stored by .drv name');
  return drv;
}

export async function writeBuildLog(
  blobs: BlobService,
  index: BuildLogIndex,
  drv: StorePath,
  source: AsyncIterable<Uint8Array>,
  opts: CallOptions = {},
): Promise<{ readonly logSize: number; readonly storedSize: number }> {
  const writer = blobs.openWrite(opts);
  let logSize = 0;
  let storedSize = 0;
  async function* capped() {
    for await (const chunk of source) {
      logSize += chunk.byteLength;
      if (logSize > MAX_BUILD_LOG_BYTES) throw new NarBridgeError('NB_ERR_TOO_LARGE', `build log larger than ${MAX_BUILD_LOG_BYTES} bytes`);
      yield chunk;
    }
  }
  try {
    await pipeline(
      Readable.from(capped(), { objectMode: false }),
      createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_LOG_QUALITY, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } }),
      async (compressed: AsyncIterable<Buffer>) => {
        for await (const chunk of compressed) {
          storedSize += chunk.byteLength;
          await writer.write(chunk);
        }
      },
    );
  } catch (err) {
    await writer.abort(err);
    throw err;
  }
  await index.put(drv, await writer.close(), opts);
  return { logSize, storedSize };
}

/** The log's brotli-compressed bytes, or null when no log is stored for `drv`. */
export async function openBuildLog(
  blobs: BlobService,
  index: BuildLogIndex,
  drv: StorePath,
  opts: CallOptions = {},
): Promise<AsyncIterable<Uint8Array> | null> {
  const digest = await index.get(drv, opts);
  if (!digest) return null;
  const stored = await blobs.openRead(digest, opts);
  if (!stored) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `build log blob ${digest.toHex()} is missing`);
  return stored;
}
