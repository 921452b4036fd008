// PathInfoService in the embedded SQLite database, stored as tvix PathInfo protobuf bytes, with the time each
// path was first registered (indexed, for the newest-first listing).
import type { Database } from '../../castore/index.js';
import { migrate } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService, RecentPathInfos, RegisteredPathInfo } from './service.js';
import { decodePathInfo, encodePathInfo } from '../wire.js';
import { overwriting } from './overwrite.js';

// libsql has no pluck(): rows are always objects, and BLOBs come back as Buffer from get() but as
// ArrayBuffer from iterate(); Uint8Array's constructor takes both.
interface Row {
  data: Uint8Array | ArrayBuffer;
}

interface RegisteredRow extends Row {
  registered_at: number | bigint | null;
}

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

  async get(digest: Uint8Array): Promise<PathInfo | null> {
    const row = this.#get.get([Buffer.from(digest)]) as Row | undefined;
    return row ? decodePathInfo(new Uint8Array(row.data)) : null;
  }

  /** Read and write in one transaction: the read-modify-write of another process sharing the file lands before or after. */
  async put(info: PathInfo): Promise<void> {
    const digest = Buffer.from(info.storePath.digest);
    this.#db.transaction(() => {
      const row = this.#get.get([digest]) as Row | undefined;
      const kept = overwriting(row ? decodePathInfo(new Uint8Array(row.data)) : null, info);
      this.#put.run([digest, Buffer.from(encodePathInfo(kept)), this.now()]);
    }).immediate();
  }

  async *list(): AsyncIterable<PathInfo> {
    for (const row of this.#list.iterate() as Iterable<Row>) yield decodePathInfo(new Uint8Array(row.data));
  }

  async recent(limit: number): Promise<RegisteredPathInfo[]> {
    return (this.#recent.all([limit]) as RegisteredRow[]).map((row) => ({
      info: decodePathInfo(new Uint8Array(row.data)),
      registeredAt: row.registered_at === null ? null : new Date(Number(row.registered_at)),
    }));
  }
}
