// Content-Encoding for the small text replies (narinfo, .ls, build logs). Nix 2.8 sends no Accept-Encoding,
// decodes gzip/br/xz/bzip2/zstd itself and aborts on anything else, `identity` included
// (nix-http-protocol.md §0), so a reply is encoded only when asked and the header never says `identity`.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants, createBrotliDecompress, createGzip, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Codings we produce for text, in our order of preference. Node 20's zlib has no zstd. */
export const TEXT_CODINGS = ['br', 'gzip'] as const;
type ContentCoding = (typeof TEXT_CODINGS)[number];

/** Brotli quality for on-the-fly replies: 5 is near 11's ratio on text at a small fraction of the CPU. */
const BROTLI_ON_THE_FLY_QUALITY = 5;
const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * The coding to answer with for an Accept-Encoding header (RFC 9110 §12.5.3): the highest q-value among
 * codings we produce, ties broken by our preference; `*` stands for any coding not named; q=0 refuses.
 * Null (send as is) when the header is absent or nothing acceptable is on offer.
 */
export function negotiateEncoding<C extends string>(acceptEncoding: string | undefined, offered: readonly C[]): C | null {
  if (!acceptEncoding) return null;
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    if (!coding) continue;
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    weights.set(coding.trim(), q === undefined ? 1 : Number(q));
  }
  let best: C | null = null;
  let bestWeight = 0;
  for (const coding of offered) {
    const weight = weights.get(coding) ?? weights.get('*') ?? 0;
    if (weight > bestWeight) [best, bestWeight] = [coding, weight];
  }
  return best;
}

function choose(request: FastifyRequest, reply: FastifyReply): ContentCoding | null {
  reply.header('vary', 'Accept-Encoding');
  const coding = negotiateEncoding(request.headers['accept-encoding'], TEXT_CODINGS);
  if (coding) reply.header('content-encoding', coding);
  return coding;
}

/**
 * Sends `body`, compressed when the client asked for a coding we produce. Uncompressed (what Nix asks for) it is sent
 * at once, without a promise: this is the narinfo hot path.
 */
export function sendEncoded(request: FastifyRequest, reply: FastifyReply, body: string): FastifyReply | Promise<FastifyReply> {
  const coding = choose(request, reply);
  // A string goes out in one write with the header block (Node prepends it); a Buffer would be copied first.
  if (coding === null) return reply.send(body);
  return sendCompressed(reply, coding, Buffer.from(body, 'utf8'));
}

async function sendCompressed(reply: FastifyReply, coding: ContentCoding, bytes: Buffer): Promise<FastifyReply> {
  if (coding === 'br') {
    return reply.send(await brotli(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_ON_THE_FLY_QUALITY } }));
  }
  return reply.send(await gzipAsync(bytes));
}

/**
 * Sends content stored brotli-compressed: passed through untouched to a client that takes br, re-encoded
 * to gzip, or decoded for a client that named nothing we produce.
 */
export function sendFromBrotli(request: FastifyRequest, reply: FastifyReply, stored: AsyncIterable<Uint8Array>): FastifyReply {
  const coding = choose(request, reply);
  const source = Readable.from(stored, { objectMode: false });
  if (coding === 'br') return reply.send(source);
  const decoded = createBrotliDecompress();
  const out = coding === 'gzip' ? createGzip() : decoded;
  // pipeline destroys every stage if one fails or the client goes away; Fastify then cuts the reply short.
  const stages = coding === 'gzip' ? pipeline(source, decoded, out) : pipeline(source, decoded);
  stages.catch((err: unknown) => request.log.warn({ err }, 'stored log stream failed'));
  return reply.send(out);
}
