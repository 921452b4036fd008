// Test helper: SQLite database files in temp dirs, closed and removed by `cleanup()` (call it in afterEach).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/castore/index.js';

export interface TempDatabases {
  /** A path for a database file that does not exist yet, in a fresh temp dir. */
  file(): Promise<string>;
  /** Opens `file` (a fresh one by default); closed by cleanup(). */
  open(file?: string): Promise<Database>;
  cleanup(): Promise<void>;
}

export function tempDatabases(prefix: string): TempDatabases {
  let dirs: string[] = [];
  let dbs: Database[] = [];
  const file = async () => {
    const dir = await mkdtemp(join(tmpdir(), `nb-${prefix}-`));
    dirs.push(dir);
    return join(dir, 'meta.sqlite');
  };
  return {
    file,
    async open(path) {
      const db = openDatabase(path ?? (await file()));
      dbs.push(db);
      return db;
    },
    async cleanup() {
      for (const db of dbs) db.close();
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
      dirs = [];
      dbs = [];
    },
  };
}
