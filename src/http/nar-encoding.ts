// On-the-fly Content-Encoding for NAR downloads, when a client asks with Accept-Encoding (Nix 2.8 never
// does). Tuned for throughput: the fastest level of each coder, and a cap on encoders running at once —
// past it a NAR goes out uncompressed instead of waiting for a core.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';
import { negotiateEncoding } from './encoding.js';

/** zstd first (fast and strong), then br, then gzip. Node 20's zlib has no zstd: Debian's zstd binary does it. */
const NAR_CODINGS = ['zstd', 'br', 'gzip'] as const;
type NarCoding = (typeof NAR_CODINGS)[number];

/** One encoder keeps about one core busy at NAR download speeds; this machine class has two. */
const DEFAULT_MAX_NAR_ENCODERS = 2;

export class NarEncoders {
  #active = 0;

  constructor(private readonly max: number = DEFAULT_MAX_NAR_ENCODERS) {}

  /** The coding to use for this request, or null: none asked for, or every encoder busy. */
  choose(acceptEncoding: string | undefined): NarCoding | null {
    if (this.#active >= this.max) return null;
    return negotiateEncoding(acceptEncoding, NAR_CODINGS);
  }

  /** `source` encoded with `coding`; the slot is held until the encoded stream ends or is destroyed. */
  encode(coding: NarCoding, source: Readable): Readable {
    this.#active++;
    const encoded = coding === 'zstd' ? zstd(source) : zlibEncode(coding, source);
    encoded.once('close', () => this.#active--);
    return encoded;
  }
}

function zlibEncode(coding: 'br' | 'gzip', source: Readable): Readable {
  const encoder =
    coding === 'br'
      ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MIN_QUALITY } })
      : createGzip({ level: constants.Z_BEST_SPEED });
  // pipeline destroys every stage when one fails or the client leaves; Fastify then cuts the reply short.
  pipeline(source, encoder).catch(() => undefined);
  return encoder;
}

function zstd(source: Readable): Readable {
  const child = spawn('zstd', ['-1', '--quiet', '--stdout'], { stdio: ['pipe', 'pipe', 'ignore'] });
  // The failure is passed on before the kill: the killed child's stdout would otherwise end as if complete.
  pipeline(source, child.stdin).catch((err: unknown) => {
    child.stdout.destroy(err instanceof Error ? err : new Error(String(err)));
    child.kill('SIGKILL');
  });
  child.once('error', (err) => child.stdout.destroy(err));
  child.once('exit', (code) => {
    if (code !== 0) child.stdout.destroy(new Error(`zstd exited with status ${code}`));
  });
  child.stdout.once('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    source.destroy();
  });
  return child.stdout;
}
