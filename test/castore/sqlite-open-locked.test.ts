// Opening the metadata database while another process holds a write lock on it (a live server's flush while a CLI
// command starts) waits for the lock instead of failing with "database is locked".
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/castore/index.js';

const HOLDER = fileURLToPath(new URL('./hold-write-lock.mjs', import.meta.url));

it('waits for another process to release its write lock', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nb-sqlite-lock-'));
  try {
    const path = join(dir, 'meta.sqlite');
    openDatabase(path).close();
    const holder = spawn(process.execPath, [HOLDER, path, '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout, 'data');
    const db = openDatabase(path);
    db.close();
    expect((await once(holder, 'exit'))[0]).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
