// HTTP client for one upstream Nix binary cache: narinfo lookups and NAR downloads, each under a deadline so
// a slow or dead upstream costs a bounded wait.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { CallOptions } from '../../../castore/index.js';
import { NarBridgeError } from '../../../errors.js';
import { parseNarInfo, type NarInfo } from '../../../nix/index.js';
import type { UpstreamCache } from './url.js';

interface UpstreamTimeouts {
  /** A whole narinfo request; Nix waits on it, so keep it short. */
  readonly narInfoMs: number;
  /** Silence allowed between two pieces of a NAR download (a large NAR may take minutes in total). */
  readonly narIdleMs: number;
}

const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = { narInfoMs: 10_000, narIdleMs: 30_000 };

/** Real narinfos are well under 64 KiB; this only stops a hostile upstream filling memory. */
const MAX_NARINFO_BYTES = 1024 * 1024;
/** Statuses Nix itself treats as "not in this cache" (nix-http-protocol.md §8.4). */
const ABSENT_STATUSES = new Set([401, 403, 404, 407, 410]);

export class BinaryCacheClient {
  constructor(
    readonly cache: UpstreamCache,
    private readonly timeouts: UpstreamTimeouts = DEFAULT_UPSTREAM_TIMEOUTS,
  ) {}

  /** The parsed narinfo for a store path hash part, or null when the upstream has none. */
  async narInfo(hashPart: string, opts: CallOptions = {}): Promise<NarInfo | null> {
    const url = `${this.cache.baseUrl}/${hashPart}.narinfo`;
    const deadline = AbortSignal.timeout(this.timeouts.narInfoMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
    try {
      const response = await fetch(url, { signal });
      if (ABSENT_STATUSES.has(response.status)) {
        await response.body?.cancel();
        return null;
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        throw upstreamError(url, `answered ${response.status}`);
      }
      return parseNarInfo(await readCapped(response, MAX_NARINFO_BYTES, url));
    } catch (err) {
      throw describe(err, url, deadline);
    }
  }

  /**
   * The NAR file a narinfo names, as sent (compressed or not). The download is abandoned when the upstream
   * goes quiet for longer than the idle timeout.
   */
  async *narFile(narInfo: NarInfo, opts: CallOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const url = this.#resolve(narInfo.url);
    const idle = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, idle.signal]) : idle.signal;
    let timer = setTimeout(() => idle.abort(), this.timeouts.narIdleMs);
    const rearm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), this.timeouts.narIdleMs);
    };
    try {
      const response = await fetch(url, { signal });
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        throw upstreamError(url, `answered ${response.status}`);
      }
      for await (const piece of Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)) {
        rearm();
        yield piece as Uint8Array;
      }
    } catch (err) {
      throw describe(err, url, idle.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A narinfo's URL is joined to the cache by plain concatenation unless absolute (nix-http-protocol.md §1). */
  #resolve(narUrl: string): string {
    if (/^https?:\/\//.test(narUrl)) return narUrl;
    if (/^[a-z][a-z0-9+.-]*:/i.test(narUrl)) throw upstreamError(narUrl, 'is a NAR URL scheme we do not fetch');
    return `${this.cache.baseUrl}/${narUrl}`;
  }
}

async function readCapped(response: Response, maxBytes: number, url: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const piece of Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)) {
    length += (piece as Uint8Array).byteLength;
    if (length > maxBytes) throw upstreamError(url, `sent a narinfo over ${maxBytes} bytes`);
    chunks.push(piece as Uint8Array);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function upstreamError(url: string, what: string, cause?: unknown): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `upstream ${url} ${what}`, cause === undefined ? undefined : { cause });
}

/** Our own errors pass through; a deadline becomes NB_ERR_TIMEOUT, anything else from fetch NB_ERR_UPSTREAM. */
function describe(err: unknown, url: string, deadline: AbortSignal): NarBridgeError {
  if (NarBridgeError.is(err)) return err;
  if (deadline.aborted) return new NarBridgeError('NB_ERR_TIMEOUT', `upstream ${url} timed out`, { cause: err });
  return upstreamError(url, 'failed', err);
}
