// Cache-Control, chosen in one place: each read route names its policy in its route config, and one onSend hook
// writes the header (errors and misses included). Nix ignores these headers; they are for proxies and CDNs in front.
import type { FastifyInstance } from 'fastify';

export type CachePolicy = 'immutable' | 'narinfo';

declare module 'fastify' {
  interface FastifyContextConfig {
    readonly cachePolicy?: CachePolicy;
  }
}

const MAX_AGE: Record<CachePolicy, string> = {
  // NAR URLs name their bytes (a castore node's digests, or an upload's sha256): the answer can never change.
  immutable: 'max-age=31536000, immutable',
  // A path's narinfo can change: `nix store sign` adds signatures, and paths can be deleted. A minute bounds how
  // long a proxy hides that, while it still absorbs the bursts of lookups many machines make for one closure.
  narinfo: 'max-age=60',
};

/** Misses and errors: a path pushed right after a lookup missed must be found by the next one. */
const NOT_STORED = 'no-store';

export interface CacheControlOptions {
  /** Reads need a token: shared caches must not keep answers (`private`), only the requesting client may. */
  readonly privateReads: boolean;
}

/** The Cache-Control value of a GET or HEAD answer with `status` from a route of `policy` (undefined: none set). */
export type CacheControlFor = (status: number, policy: CachePolicy | undefined) => string | undefined;

export function cacheControlFor({ privateReads }: CacheControlOptions): CacheControlFor {
  const scope = privateReads ? 'private' : 'public';
  const stored: Record<CachePolicy, string> = { immutable: `${scope}, ${MAX_AGE.immutable}`, narinfo: `${scope}, ${MAX_AGE.narinfo}` };
  return (status, policy) => (status >= 400 ? NOT_STORED : policy && stored[policy]);
}

/** Adds the hook to `app` itself, so every route and the not-found and error handlers pass through it. */
export function installCacheControl(app: FastifyInstance, valueFor: CacheControlFor): void {
  // A callback hook, not an async one: it runs on every reply.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') {
      // routeOptions is built afresh on each read: once per reply, and not for misses.
      const value = valueFor(reply.statusCode, reply.statusCode >= 400 ? undefined : request.routeOptions.config.cachePolicy);
      if (value) reply.header('cache-control', value);
    }
    done(null, payload);
  });
}
