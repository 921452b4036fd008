// Holds an exclusive write lock on the SQLite file argv[2] for argv[3] ms, as another process sharing a data dir can.
import Libsql from 'libsql';

const [path, ms] = process.argv.slice(2);
const db = new Libsql(path);
db.exec('BEGIN EXCLUSIVE');
db.exec('CREATE TABLE IF NOT EXISTS held (x)');
process.stdout.write('locked\n');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms));
db.exec('COMMIT');
