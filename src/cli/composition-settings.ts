// The composition flags of `serve`: upstream Nix caches to pull misses from, and a composition file of tiered
// services, with their NAR_BRIDGE_* variables.
import { NEAR_CACHE_MIN_BYTES } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { DEFAULT_UPSTREAM_MISS_TTL_MS, parseUpstreamUrl, type UpstreamCache } from '../store/index.js';
import { parseBytes } from './trust-settings.js';

export interface CompositionSettings {
  readonly upstreams: readonly UpstreamCache[];
  readonly upstreamMissTtlMs: number;
  /** A TOML or JSON file composing the store's services (README, "Composition"), or null. */
  readonly compositionFile: string | null;
  /** Bytes of local disk caching the blobs of --blob-service-addr (near-cache/ in the data dir), or null: no cache. */
  readonly cacheMaxBytes: number | null;
}

/** Spread into `serve`'s parseArgs options. */
export const COMPOSITION_OPTIONS = {
  upstream: { type: 'string', multiple: true },
  'upstream-miss-ttl': { type: 'string' },
  composition: { type: 'string' },
  'cache-max-size': { type: 'string' },
} as const;

interface CompositionValues {
  readonly upstream?: string[];
  readonly 'upstream-miss-ttl'?: string;
  readonly composition?: string;
  readonly 'cache-max-size'?: string;
}

export function compositionSettings(values: CompositionValues, env: NodeJS.ProcessEnv): CompositionSettings {
  // Whitespace separates URLs in the variable: spaces inside a URL's key list are written %20.
  const upstreamUrls = values.upstream ?? (env.NAR_BRIDGE_UPSTREAM ?? '').split(/\s+/).filter((u) => u !== '');
  const ttlText = values['upstream-miss-ttl'] ?? env.NAR_BRIDGE_UPSTREAM_MISS_TTL;
  if (ttlText !== undefined && !/^\d+$/.test(ttlText)) throw new NarBridgeError('NB_ERR_CONFIG', '--upstream-miss-ttl must be a whole number of seconds');
  const ttlSeconds = ttlText === undefined ? DEFAULT_UPSTREAM_MISS_TTL_MS / 1000 : Number(ttlText);
  return {
    upstreams: upstreamUrls.map(parseUpstreamUrl),
    upstreamMissTtlMs: ttlSeconds * 1000,
    compositionFile: values.composition ?? env.NAR_BRIDGE_COMPOSITION ?? null,
    cacheMaxBytes: cacheMaxBytes(values['cache-max-size'] ?? env.NAR_BRIDGE_CACHE_MAX_SIZE),
  };
}

function cacheMaxBytes(text: string | undefined): number | null {
  if (text === undefined || text === '') return null;
  const bytes = parseBytes('--cache-max-size', text);
  if (bytes < NEAR_CACHE_MIN_BYTES) throw new NarBridgeError('NB_ERR_CONFIG', `--cache-max-size must be at least ${NEAR_CACHE_MIN_BYTES / 1024 / 1024}M`);
  return bytes;
}
