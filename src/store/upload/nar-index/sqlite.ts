// NarUploadIndex in the embedded SQLite database, so a narinfo PUT after a restart still finds its NAR.
import { decodeRootNode, encodeRootNode, migrate, readRow, type Database } from '../../../castore/index.js';
import { NixHash, storePathDigest, type StorePathDigest } from '../../../nix/index.js';
import type { NarUploadIndex, UploadedNar } from './service.js';

const SCHEMA = [
  `CREATE TABLE nar_uploads (
     file_sha256 BLOB PRIMARY KEY,
     root_node BLOB NOT NULL,
     nar_sha256 BLOB NOT NULL,
     nar_size INTEGER NOT NULL,
     file_size INTEGER NOT NULL
   ) WITHOUT ROWID`,
  'ALTER TABLE nar_uploads ADD COLUMN claimed_by BLOB',
  // Milliseconds since the epoch of the last upload of the file, or of the last HEAD that found it unclaimed: GC keeps
  // an unclaimed upload this long after (grace).
  'ALTER TABLE nar_uploads ADD COLUMN uploaded_at INTEGER',
];

export class SqliteNarUploadIndex implements NarUploadIndex {
  readonly #get;
  readonly #put;
  readonly #claim;
  readonly #touch;

  constructor(
    db: Database,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, 'nar_uploads', SCHEMA);
    this.#get = db.prepare('SELECT root_node, nar_sha256, nar_size, file_size, claimed_by FROM nar_uploads WHERE file_sha256 = ?');
    this.#put = db.prepare(
      `INSERT INTO nar_uploads (file_sha256, root_node, nar_sha256, nar_size, file_size, uploaded_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (file_sha256) DO UPDATE SET root_node = excluded.root_node, nar_sha256 = excluded.nar_sha256,
         nar_size = excluded.nar_size, file_size = excluded.file_size, uploaded_at = excluded.uploaded_at`,
    );
    this.#claim = db.prepare('UPDATE nar_uploads SET claimed_by = ? WHERE file_sha256 = ?');
    this.#touch = db.prepare('UPDATE nar_uploads SET uploaded_at = ? WHERE file_sha256 = ? AND claimed_by IS NULL');
  }

  async get(fileHash: Uint8Array): Promise<UploadedNar | null> {
    const row = readRow('nar_uploads', this.#get.get([Buffer.from(fileHash)]));
    if (!row) return null;
    const claimedBy = row.bytesOrNull('claimed_by');
    return {
      node: decodeRootNode(row.bytes('root_node')).node,
      narHash: NixHash.fromDigest('sha256', row.bytes('nar_sha256')),
      narSize: row.integer('nar_size'),
      fileSize: row.integer('file_size'),
      ...(claimedBy ? { claimedBy: storePathDigest(new Uint8Array(claimedBy)) } : {}),
    };
  }

  async put(fileHash: Uint8Array, upload: Omit<UploadedNar, 'claimedBy'>): Promise<void> {
    this.#put.run([
      Buffer.from(fileHash),
      Buffer.from(encodeRootNode(new Uint8Array(0), upload.node)),
      Buffer.from(upload.narHash.digest),
      upload.narSize,
      upload.fileSize,
      this.now(),
    ]);
  }

  async claim(fileHash: Uint8Array, storePath: StorePathDigest): Promise<void> {
    this.#claim.run([Buffer.from(storePath), Buffer.from(fileHash)]);
  }

  async touch(fileHash: Uint8Array): Promise<void> {
    this.#touch.run([this.now(), Buffer.from(fileHash)]);
  }
}
