// `--upstream` URLs: a Nix binary cache to pull missing paths from, with its keys and priority as query
// parameters, spelled as on Nix store URLs (`http://host/path?trusted-public-keys=a:… b:…&priority=10`).
import { NarBridgeError } from '../../../errors.js';
import { PublicKey } from '../../../nix/index.js';

export interface UpstreamCache {
  /** Base URL without a trailing slash and without the query: `<base>/<hash>.narinfo`. */
  readonly baseUrl: string;
  /** A narinfo must carry a valid signature by one of these to be fetched. */
  readonly trustedKeys: readonly PublicKey[];
  /** Lower is asked first, as with Nix substituters. */
  readonly priority: number;
}

/** Nix's default substituter priority (libstore/binary-cache-store.hh). */
const DEFAULT_UPSTREAM_PRIORITY = 50;

function configError(raw: string, why: string, cause?: unknown): NarBridgeError {
  return new NarBridgeError('NB_ERR_CONFIG', `--upstream '${raw}': ${why}`, cause === undefined ? undefined : { cause });
}

export function parseUpstreamUrl(raw: string): UpstreamCache {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw configError(raw, 'not a URL', err);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError(raw, 'only http:// and https:// caches are supported');
  if (url.hash) throw configError(raw, 'a fragment means nothing here');
  let trustedKeys: PublicKey[] = [];
  let priority = DEFAULT_UPSTREAM_PRIORITY;
  // Split by hand: URLSearchParams turns '+' into a space, and '+' is a base64 digit in keys.
  for (const pair of url.search
    .slice(1)
    .split('&')
    .filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (name === 'trusted-public-keys') {
      try {
        trustedKeys = value
          .split(/\s+/)
          .filter((k) => k !== '')
          .map((k) => PublicKey.parse(k));
      } catch (err) {
        throw configError(raw, 'bad trusted-public-keys', err);
      }
    } else if (name === 'priority') {
      priority = Number(value);
      if (!/^\d+$/.test(value)) throw configError(raw, 'priority must be a non-negative integer');
    } else {
      throw configError(raw, `unknown parameter ${JSON.stringify(name)} (known: trusted-public-keys, priority)`);
    }
  }
  if (trustedKeys.length === 0) throw configError(raw, 'needs trusted-public-keys: fetched paths are verified before they are stored');
  url.search = '';
  return { baseUrl: url.href.replace(/\/+$/, ''), trustedKeys, priority };
}
