// The "nar-bridge listening" line: what an operator checks first after starting the server, in one log record.
// Public facts only: token counts by scope, never tokens; public keys, never secret ones.
import { resolve } from 'node:path';
import type { Trust } from './load-trust.js';
import type { ServeSettings } from './settings.js';
import { trustSettings } from './trust-settings.js';
import { nearCacheDir } from './near-cache.js';
import { redactUrlPassword } from '../castore/index.js';

/** The limits with no flag, variable or config key set. */
const DEFAULT_LIMITS = trustSettings({}, {}).limits;

interface Listening {
  /** The HTTP base URL, with the port actually bound. */
  readonly url: string;
  /** The gRPC address with the port actually bound, or null without --grpc-listen. */
  readonly grpc: string | null;
}

export function startupSummary(settings: ServeSettings, trust: Trust, listening: Listening): Record<string, unknown> {
  const dataDir = resolve(settings.dataDir);
  const embeddedMeta = `sqlite://${dataDir}/meta.sqlite`;
  return {
    url: listening.url,
    ...(listening.grpc === null ? {} : { grpc: listening.grpc }),
    dataDir,
    priority: settings.priority,
    store: {
      // Service URLs may carry a password (postgresql://user:secret@…): logs only ever see it redacted.
      // The embedded default has no URL of its own: name the pack directory it keeps blobs in.
      blobs: settings.blobServiceAddr === null ? `packs in ${dataDir}/packs` : redactUrlPassword(settings.blobServiceAddr),
      directories: redactUrlPassword(settings.directoryServiceAddr ?? embeddedMeta),
      pathInfos: redactUrlPassword(settings.pathInfoServiceAddr ?? embeddedMeta),
      ...(settings.composition.compositionFile === null ? {} : { composition: settings.composition.compositionFile }),
      ...(settings.composition.cacheMaxBytes === null || settings.blobServiceAddr === null
        ? {}
        : { blobCache: { dir: nearCacheDir(dataDir), maxBytes: settings.composition.cacheMaxBytes } }),
    },
    // What a client puts in trusted-public-keys to accept what this server signs.
    signingKeys: trust.signingKeys.map((key) => key.publicKey().toString()),
    trustedPublicKeys: settings.trust.trustedPublicKeys,
    requireSignedUploads: settings.trust.requireSignedUploads,
    tokens: trust.access ? trust.access.tokens.counts() : null,
    privateReads: trust.access?.privateReads ?? false,
    upstreams: settings.composition.upstreams.map((upstream) => redactUrlPassword(upstream.baseUrl)),
    limits: changedFrom(settings.trust.limits, DEFAULT_LIMITS),
  };
}

/** The leaves of `value` that differ from `defaults`, keyed by dotted path: `{ "upload.maxNarSize": 1024 }`. */
export function changedFrom(value: object, defaults: object, prefix = ''): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const [key, leaf] of Object.entries(value)) {
    const fallback: unknown = (defaults as Record<string, unknown>)[key];
    if (leaf !== null && typeof leaf === 'object' && fallback !== null && typeof fallback === 'object') {
      Object.assign(changed, changedFrom(leaf, fallback, `${prefix}${key}.`));
    } else if (leaf !== fallback) {
      changed[`${prefix}${key}`] = leaf;
    }
  }
  return changed;
}
