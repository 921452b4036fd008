// BuildLogIndex in PostgreSQL: drv basename → digest of the compressed log blob, seen by every replica.
import { B3Digest, bytesColumn, type CallOptions, type PostgresDatabase } from '../../castore/index.js';
import type { StorePath } from '../../nix/index.js';
import type { BuildLogIndex } from './service.js';

const SCHEMA = [
  `CREATE TABLE build_logs (
     drv text PRIMARY KEY,
     log_blake3 bytea NOT NULL
   )`,
];

export class PostgresBuildLogIndex implements BuildLogIndex {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresBuildLogIndex> {
    await db.migrate('build_logs', SCHEMA);
    return new PostgresBuildLogIndex(db);
  }

  async get(drv: StorePath, opts?: CallOptions): Promise<B3Digest | null> {
    const [row] = await this.db.query('read build log index', 'SELECT log_blake3 FROM build_logs WHERE drv = $1', [drv.basename], opts);
    return row === undefined ? null : B3Digest.parse(bytesColumn(row, 'log_blake3'));
  }

  async put(drv: StorePath, log: B3Digest, opts?: CallOptions): Promise<void> {
    await this.db.query(
      'write build log index',
      'INSERT INTO build_logs (drv, log_blake3) VALUES ($1, $2) ON CONFLICT (drv) DO UPDATE SET log_blake3 = excluded.log_blake3',
      [drv.basename, log.bytes],
      opts,
    );
  }
}
