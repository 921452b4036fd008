// PathInfoService in the embedded SQLite database, stored as tvix PathInfo protobuf bytes.
import type { Database } from '../castore/index.js';
import { migrate } from '../castore/index.js';
import type { PathInfo } from './path-info.js';
import type { PathInfoService } from './path-info-service.js';
import { decodePathInfo, encodePathInfo } from './wire.js';

// libsql has no pluck(): rows are always objects, and BLOBs come back as Buffer from get() but as
// ArrayBuffer from iterate(); Uint8Array's constructor takes both.
interface Row {
  data: Uint8Array | ArrayBuffer;
}

const SCHEMA = ['CREATE TABLE path_infos (digest BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID'];

export class SqlitePathInfoService implements PathInfoService {
  readonly #get;
  readonly #put;
  readonly #list;

  constructor(db: Database) {
    migrate(db, 'path_infos', SCHEMA);
    this.#get = db.prepare('SELECT data FROM path_infos WHERE digest = ?');
    this.#put = db.prepare('INSERT OR REPLACE INTO path_infos (digest, data) VALUES (?, ?)');
    this.#list = db.prepare('SELECT data FROM path_infos ORDER BY digest');
  }

  async get(digest: Uint8Array): Promise<PathInfo | null> {
    const row = this.#get.get([Buffer.from(digest)]) as Row | undefined;
    return row ? decodePathInfo(new Uint8Array(row.data)) : null;
  }

  async put(info: PathInfo): Promise<void> {
    this.#put.run([Buffer.from(info.storePath.digest), Buffer.from(encodePathInfo(info))]);
  }

  async *list(): AsyncIterable<PathInfo> {
    for (const row of this.#list.iterate() as Iterable<Row>) yield decodePathInfo(new Uint8Array(row.data));
  }
}
