// NarUploadIndex in the embedded SQLite database, so a narinfo PUT after a restart still finds its NAR.
import { decodeRootNode, encodeRootNode, migrate, type Database } from '../castore/index.js';
import { NixHash } from '../nix/index.js';
import type { NarUploadIndex, UploadedNar } from './nar-uploads.js';

const SCHEMA = [
  `CREATE TABLE nar_uploads (
     file_sha256 BLOB PRIMARY KEY,
     root_node BLOB NOT NULL,
     nar_sha256 BLOB NOT NULL,
     nar_size INTEGER NOT NULL,
     file_size INTEGER NOT NULL
   ) WITHOUT ROWID`,
];

interface Row {
  root_node: Uint8Array;
  nar_sha256: Uint8Array;
  nar_size: number;
  file_size: number;
}

export class SqliteNarUploadIndex implements NarUploadIndex {
  readonly #get;
  readonly #put;

  constructor(db: Database) {
    migrate(db, 'nar_uploads', SCHEMA);
    this.#get = db.prepare('SELECT root_node, nar_sha256, nar_size, file_size FROM nar_uploads WHERE file_sha256 = ?');
    this.#put = db.prepare(
      'INSERT OR REPLACE INTO nar_uploads (file_sha256, root_node, nar_sha256, nar_size, file_size) VALUES (?, ?, ?, ?, ?)',
    );
  }

  async get(fileHash: Uint8Array): Promise<UploadedNar | null> {
    const row = this.#get.get([Buffer.from(fileHash)]) as Row | undefined;
    if (!row) return null;
    return {
      node: decodeRootNode(row.root_node).node,
      narHash: NixHash.fromDigest('sha256', row.nar_sha256),
      narSize: Number(row.nar_size),
      fileSize: Number(row.file_size),
    };
  }

  async put(fileHash: Uint8Array, upload: UploadedNar): Promise<void> {
    this.#put.run([
      Buffer.from(fileHash),
      Buffer.from(encodeRootNode(new Uint8Array(0), upload.node)),
      Buffer.from(upload.narHash.digest),
      upload.narSize,
      upload.fileSize,
    ]);
  }
}
