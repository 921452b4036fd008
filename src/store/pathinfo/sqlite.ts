// PathInfoService in the embedded SQLite database, stored as tvix PathInfo protobuf bytes, with the time each
// path was first registered (indexed, for the newest-first listing).
import type { StorePathDigest } from '../../nix/index.js';
import { migrate, readRow, readRows, type Database, type Row } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService, RecentPathInfos, RegisteredPathInfo } from './service.js';
import { decodePathInfo, encodePathInfo } from '../wire.js';
import { overwriting } from './overwrite.js';

const SCHEMA = [
  'CREATE TABLE path_infos (digest BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID',
  // Milliseconds since the epoch of the first put; NULL for paths stored before this column existed.
  'ALTER TABLE path_infos ADD COLUMN registered_at INTEGER',
  'CREATE INDEX path_infos_registered ON path_infos (registered_at)',
];

export class SqlitePathInfoService implements PathInfoService, RecentPathInfos {
  readonly #get;
  readonly #put;
  readonly #list;
  readonly #db;
  readonly #recent;

  constructor(
    db: Database,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'path_infos', SCHEMA);
    this.#db = db;
    this.#get = db.prepare('SELECT data FROM path_infos WHERE digest = ?');
    // A re-put (e.g. `nix store sign` adding a signature) replaces the data (see put) and keeps the first registration time.
    this.#put = db.prepare('INSERT INTO path_infos (digest, data, registered_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO UPDATE SET data = excluded.data');
    this.#list = db.prepare('SELECT data FROM path_infos ORDER BY digest');
    // Walks path_infos_registered backwards; paths without a time (NULL sorts first) come last.
    this.#recent = db.prepare('SELECT data, registered_at FROM path_infos ORDER BY registered_at DESC LIMIT ?');
  }

  async get(digest: StorePathDigest): Promise<PathInfo | null> {
    const row = readRow('path_infos', this.#get.get([Buffer.from(digest)]));
    return row && pathInfoOf(row);
  }

  /** Read and write in one transaction: the read-modify-write of another process sharing the file lands before or after. */
  async put(info: PathInfo): Promise<void> {
    const digest = Buffer.from(info.storePath.digest);
    this.#db
      .transaction(() => {
        const row = readRow('path_infos', this.#get.get([digest]));
        const kept = overwriting(row && pathInfoOf(row), info);
        this.#put.run([digest, Buffer.from(encodePathInfo(kept)), this.now()]);
      })
      .immediate();
  }

  async *list(): AsyncIterable<PathInfo> {
    for (const row of readRows('path_infos', this.#list.iterate())) yield pathInfoOf(row);
  }

  async recent(limit: number): Promise<RegisteredPathInfo[]> {
    return Array.from(readRows('path_infos', this.#recent.all([limit])), (row) => {
      const registeredAt = row.integerOrNull('registered_at');
      return { info: pathInfoOf(row), registeredAt: registeredAt === null ? null : new Date(registeredAt) };
    });
  }
}

function pathInfoOf(row: Row): PathInfo {
  return decodePathInfo(row.bytes('data'));
}
