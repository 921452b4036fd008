// PathInfoService in PostgreSQL, stored as tvix PathInfo protobuf bytes (the same bytes as the SQLite backend).
import { bytesColumn, type CallOptions, type PostgresDatabase } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';
import { decodePathInfo, encodePathInfo } from '../wire.js';
import { overwriting } from './overwrite.js';

const SCHEMA = ['CREATE TABLE path_infos (digest bytea PRIMARY KEY, data bytea NOT NULL)'];

/** The first key of the two-key advisory locks taken per store path ("nbpi"), apart from the migration lock. */
const PATH_LOCK_CLASS = 0x6e627069;

/** The second key: 32 bits of the store path digest (a collision only makes two puts wait for each other). */
function lockKey(digest: Uint8Array): number {
  return Buffer.from(digest).readInt32BE(0);
}

/** Rows per page of list(): a page is one short query, so a long listing holds no connection or snapshot. */
const LIST_PAGE_ROWS = 1000;

export class PostgresPathInfoService implements PathInfoService {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresPathInfoService> {
    await db.migrate('path_infos', SCHEMA);
    return new PostgresPathInfoService(db);
  }

  async get(digest: Uint8Array, opts?: CallOptions): Promise<PathInfo | null> {
    const [row] = await this.db.query('read path info', 'SELECT data FROM path_infos WHERE digest = $1', [digest], opts);
    return row === undefined ? null : decodePathInfo(bytesColumn(row, 'data'));
  }

  /**
   * Read, merge and write in one transaction under a per-path advisory lock: replicas and workers sign and merge by
   * read-modify-write, and a row lock cannot cover a path not stored yet, so two first puts would otherwise both
   * read nothing and the later one would drop the earlier one's signatures.
   */
  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    const digest = info.storePath.digest;
    await this.db.transaction(
      'write path info',
      async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [PATH_LOCK_CLASS, lockKey(digest)]);
        const [row] = await tx.query('SELECT data FROM path_infos WHERE digest = $1', [digest]);
        const kept = overwriting(row === undefined ? null : decodePathInfo(bytesColumn(row, 'data')), info);
        await tx.query('INSERT INTO path_infos (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET data = excluded.data', [
          digest,
          encodePathInfo(kept),
        ]);
      },
      opts,
    );
  }

  /** In digest order (bytea compares bytewise, as SQLite's BLOBs do), page by page after the last digest seen. */
  async *list(opts?: CallOptions): AsyncIterable<PathInfo> {
    let after: Uint8Array | null = null;
    for (;;) {
      const rows: readonly unknown[] =
        after === null
          ? await this.db.query('list path infos', 'SELECT digest, data FROM path_infos ORDER BY digest LIMIT $1', [LIST_PAGE_ROWS], opts)
          : await this.db.query(
              'list path infos',
              'SELECT digest, data FROM path_infos WHERE digest > $1 ORDER BY digest LIMIT $2',
              [after, LIST_PAGE_ROWS],
              opts,
            );
      for (const row of rows) yield decodePathInfo(bytesColumn(row, 'data'));
      const last = rows.at(-1);
      if (rows.length < LIST_PAGE_ROWS || last === undefined) return;
      after = bytesColumn(last, 'digest');
    }
  }
}
