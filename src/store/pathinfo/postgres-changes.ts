// Narinfo caches of replicas sharing PathInfos in PostgreSQL: each change made through a replica (a put merging
// signatures, a deletion) is announced with NOTIFY, and every replica LISTENing drops its cached copy, so a path deleted
// through one replica is not served from another's cache for the cache's TTL. Delivery follows the commit by a round
// trip; while a replica's listening connection is down (it reconnects by itself) the cache TTL bounds what it misses.
import type { PostgresDatabase } from '../../castore/index.js';
import type { PathInfoCachePeers } from './caching.js';

/** One channel per database: a replica of another schema in it only drops an entry it may not even hold. */
const CHANNEL = 'nar_bridge_path_infos';

export class PostgresPathInfoChanges implements PathInfoCachePeers {
  constructor(private readonly db: PostgresDatabase) {}

  async changed(digest: Uint8Array): Promise<void> {
    await this.db.query('announce a path info change', 'SELECT pg_notify($1, $2)', [CHANNEL, Buffer.from(digest).toString('hex')]);
  }

  /** Listens until the database is closed. */
  subscribe(forget: (digest: Uint8Array) => void): void {
    this.db.listen(CHANNEL, (payload) => {
      if (/^[0-9a-f]{40}$/.test(payload)) forget(Buffer.from(payload, 'hex'));
    });
  }
}

/** Every one of `peers` hears of each change, and each one's changes reach the cache. */
export function allPeers(...peers: ReadonlyArray<PathInfoCachePeers | undefined>): PathInfoCachePeers | undefined {
  const present = peers.filter((p): p is PathInfoCachePeers => p !== undefined);
  if (present.length <= 1) return present[0];
  return {
    changed: async (digest) => {
      await Promise.all(present.map((p) => p.changed(digest)));
    },
    subscribe: (forget) => {
      for (const p of present) p.subscribe(forget);
    },
  };
}
