// BuildLogIndex in the embedded SQLite database: drv basename → digest of the compressed log blob.
import { B3Digest, migrate, readRow, type Database } from '../../castore/index.js';
import type { StorePath } from '../../nix/index.js';
import type { BuildLogIndex } from './service.js';

const SCHEMA = [
  `CREATE TABLE build_logs (
     drv TEXT PRIMARY KEY NOT NULL,
     log_blake3 BLOB NOT NULL
   ) WITHOUT ROWID`,
];

export class SqliteBuildLogIndex implements BuildLogIndex {
  readonly #get;
  readonly #put;

  constructor(db: Database) {
    migrate(db, 'build_logs', SCHEMA);
    this.#get = db.prepare('SELECT log_blake3 FROM build_logs WHERE drv = ?');
    this.#put = db.prepare('INSERT OR REPLACE INTO build_logs (drv, log_blake3) VALUES (?, ?)');
  }

  async get(drv: StorePath): Promise<B3Digest | null> {
    const row = readRow('build_logs', this.#get.get([drv.basename]));
    return row && B3Digest.parse(row.bytes('log_blake3'));
  }

  async put(drv: StorePath, log: B3Digest): Promise<void> {
    this.#put.run([drv.basename, Buffer.from(log.bytes)]);
  }
}
