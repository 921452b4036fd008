// Upload decompression, detected from the first bytes rather than the URL: Nix names gzip uploads
// `.nar` with no extension (nix-http-protocol.md §2.2), and Compression: is only advisory. A plain NAR is
// recognised first; brotli has no magic number, so it is only tried when the source says it is brotli.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { NarBridgeError } from '../../errors.js';
import { throughProcess } from './child-process.js';

export type Compression = 'none' | 'xz' | 'zstd' | 'bzip2' | 'gzip' | 'br';

const MAGICS: ReadonlyArray<readonly [Compression, readonly number[]]> = [
  ['none', [0x0d, 0, 0, 0, 0, 0, 0, 0, 0x6e, 0x69, 0x78, 0x2d]], // NAR: u64 13, "nix-"
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['gzip', [0x1f, 0x8b]],
];
const SNIFF_BYTES = 12;

interface DecompressOptions {
  /** The source says it is brotli (a `.nar.br` URL, `Compression: br`): only then is an unrecognised start decoded as brotli. */
  readonly brotli?: boolean;
  /** Learns the compression as soon as it is known (before any output). */
  readonly detected?: (compression: Compression) => void;
}

/** The compression `head` starts with; brotli (no magic) only if `brotli` allows it; null when nothing fits. */
function detectCompression(head: Uint8Array, brotli = false): Compression | null {
  for (const [name, magic] of MAGICS) {
    if (magic.every((byte, i) => head[i] === byte)) return name;
  }
  return brotli ? 'br' : null;
}

// xz, zstd and bzip2 are not in Node 20's zlib: the Debian tools decode them natively and stream.
const DECODER_COMMANDS: Partial<Record<Compression, readonly [string, ...string[]]>> = {
  xz: ['xz', '--decompress', '--stdout', '--single-stream'],
  zstd: ['zstd', '--decompress', '--stdout', '--quiet'],
  bzip2: ['bzip2', '--decompress', '--stdout'],
};

/** Yields the decompressed bytes of `source`, whatever its (supported) compression. */
export async function* decompress(source: AsyncIterable<Uint8Array>, opts: DecompressOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headLength = 0;
  while (headLength < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    headLength += next.value.byteLength;
  }
  const first = Buffer.concat(head);
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => iterator,
  };
  const whole = (async function* () {
    if (first.byteLength > 0) yield first;
    yield* rest;
  })();

  const compression = detectCompression(first, opts.brotli);
  if (compression === null) {
    throw new NarBridgeError(
      'NB_ERR_NAR_MALFORMED',
      `not a NAR and not a known compression (expected nix-archive-1, xz, zstd, bzip2, gzip${opts.brotli ? ' or brotli' : ', or brotli under a .nar.br name'})`,
    );
  }
  opts.detected?.(compression);
  if (compression === 'none') {
    yield* whole;
    return;
  }
  const command = DECODER_COMMANDS[compression];
  yield* command ? decodeWithProcess(compression, command, whole) : decodeWithZlib(compression, whole);
}

async function* decodeWithZlib(compression: Compression, input: AsyncIterable<Uint8Array>) {
  const decoder = compression === 'gzip' ? createGunzip() : createBrotliDecompress();
  // Settles to the error (not a rejection), so it is never left unhandled when the consumer stops early.
  const feeding = pipeline(Readable.from(input, { objectMode: false }), decoder).then(
    () => undefined,
    (err: unknown) => err,
  );
  try {
    for await (const chunk of decoder) yield chunk as Uint8Array;
  } catch (err) {
    throw corrupt(compression, (await feeding) ?? err);
  }
  const fed = await feeding;
  if (fed !== undefined) throw corrupt(compression, fed);
}

async function* decodeWithProcess(compression: Compression, command: readonly [string, ...string[]], input: AsyncIterable<Uint8Array>) {
  try {
    yield* throughProcess(command, input);
  } catch (err) {
    throw corrupt(compression, err);
  }
}

function corrupt(compression: Compression, cause: unknown): NarBridgeError {
  if (NarBridgeError.is(cause)) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new NarBridgeError('NB_ERR_NAR_MALFORMED', `invalid ${compression} data: ${detail}`, { cause });
}
