// RealisationService in the embedded SQLite database: derivation output id → the realisation's JSON document.
import { migrate, readRow, type Database } from '../../castore/index.js';
import { formatRealisation, parseRealisation, type DrvOutputId, type Realisation } from '../../nix/index.js';
import { mergeRealisations, type RealisationService } from './service.js';

const SCHEMA = [
  `CREATE TABLE realisations (
     id TEXT PRIMARY KEY NOT NULL,
     document TEXT NOT NULL
   ) WITHOUT ROWID`,
];

export class SqliteRealisationService implements RealisationService {
  readonly #db: Database;
  readonly #get;
  readonly #put;

  constructor(db: Database) {
    migrate(db, 'realisations', SCHEMA);
    this.#db = db;
    this.#get = db.prepare('SELECT document FROM realisations WHERE id = ?');
    this.#put = db.prepare('INSERT OR REPLACE INTO realisations (id, document) VALUES (?, ?)');
  }

  async get(id: DrvOutputId): Promise<Realisation | null> {
    return this.#read(id.toString());
  }

  async put(realisation: Realisation): Promise<Realisation> {
    const key = realisation.id.toString();
    // Read, merge and write in one transaction, so two uploads signing the same output both keep their signature.
    return this.#db
      .transaction(() => {
        const merged = mergeRealisations(this.#read(key), realisation);
        this.#put.run([key, formatRealisation(merged)]);
        return merged;
      })
      .immediate();
  }

  #read(key: string): Realisation | null {
    const row = readRow('realisations', this.#get.get([key]));
    return row && parseRealisation(row.text('document'));
  }
}
