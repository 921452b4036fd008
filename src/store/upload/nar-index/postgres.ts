// NarUploadIndex in PostgreSQL: a NAR PUT answered by one replica is matched by the narinfo PUT another one answers.
import {
  bytesColumn,
  decodeRootNode,
  encodeRootNode,
  integerColumn,
  optionalBytesColumn,
  type CallOptions,
  type PostgresDatabase,
} from '../../../castore/index.js';
import { NixHash, storePathDigest, type StorePathDigest } from '../../../nix/index.js';
import type { NarUploadIndex, UploadedNar } from './service.js';

/** The SQLite backend's table, with PostgreSQL types. */
const SCHEMA = [
  `CREATE TABLE nar_uploads (
     file_sha256 bytea PRIMARY KEY,
     root_node bytea NOT NULL,
     nar_sha256 bytea NOT NULL,
     nar_size bigint NOT NULL,
     file_size bigint NOT NULL
   )`,
  'ALTER TABLE nar_uploads ADD COLUMN claimed_by bytea',
  // When the NAR was uploaded or last found by a HEAD: GC keeps unclaimed uploads this young (a push half-way).
  'ALTER TABLE nar_uploads ADD COLUMN uploaded_at timestamptz NOT NULL DEFAULT now()',
];

export class PostgresNarUploadIndex implements NarUploadIndex {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresNarUploadIndex> {
    await db.migrate('nar_uploads', SCHEMA);
    return new PostgresNarUploadIndex(db);
  }

  async get(fileHash: Uint8Array, opts?: CallOptions): Promise<UploadedNar | null> {
    const [row] = await this.db.query(
      'read NAR upload',
      'SELECT root_node, nar_sha256, nar_size, file_size, claimed_by FROM nar_uploads WHERE file_sha256 = $1',
      [fileHash],
      opts,
    );
    if (row === undefined) return null;
    const claimedBy = optionalBytesColumn(row, 'claimed_by');
    return {
      node: decodeRootNode(bytesColumn(row, 'root_node')).node,
      narHash: NixHash.fromDigest('sha256', bytesColumn(row, 'nar_sha256')),
      narSize: integerColumn(row, 'nar_size'),
      fileSize: integerColumn(row, 'file_size'),
      ...(claimedBy ? { claimedBy: storePathDigest(new Uint8Array(claimedBy)) } : {}),
    };
  }

  async put(fileHash: Uint8Array, upload: Omit<UploadedNar, 'claimedBy'>, opts?: CallOptions): Promise<void> {
    await this.db.query(
      'write NAR upload',
      `INSERT INTO nar_uploads (file_sha256, root_node, nar_sha256, nar_size, file_size) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (file_sha256) DO UPDATE SET root_node = excluded.root_node, nar_sha256 = excluded.nar_sha256,
         nar_size = excluded.nar_size, file_size = excluded.file_size, uploaded_at = now()`,
      [fileHash, encodeRootNode(new Uint8Array(0), upload.node), upload.narHash.digest, upload.narSize, upload.fileSize],
      opts,
    );
  }

  async claim(fileHash: Uint8Array, storePath: StorePathDigest, opts?: CallOptions): Promise<void> {
    await this.db.query('claim NAR upload', 'UPDATE nar_uploads SET claimed_by = $1 WHERE file_sha256 = $2', [storePath, fileHash], opts);
  }

  /** Renews an unclaimed upload's grace period (a HEAD found it: its narinfo PUT is coming). */
  async touch(fileHash: Uint8Array, opts?: CallOptions): Promise<void> {
    await this.db.query('renew NAR upload', 'UPDATE nar_uploads SET uploaded_at = now() WHERE file_sha256 = $1 AND claimed_by IS NULL', [fileHash], opts);
  }
}
