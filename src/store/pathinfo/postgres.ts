// PathInfoService in PostgreSQL, stored as tvix PathInfo protobuf bytes (the same bytes as the SQLite backend).
import { bytesColumn, type CallOptions, type PostgresDatabase } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';
import { decodePathInfo, encodePathInfo } from '../wire.js';

const SCHEMA = ['CREATE TABLE path_infos (digest bytea PRIMARY KEY, data bytea NOT NULL)'];

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

  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.db.query(
      'write path info',
      'INSERT INTO path_infos (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET data = excluded.data',
      [info.storePath.digest, encodePathInfo(info)],
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
