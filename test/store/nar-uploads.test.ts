// NarUploadIndex on memory and on a real SQLite file: uploads, the claim a narinfo PUT leaves on them, and a
// database from before claims existed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { B3Digest, encodeRootNode, openDatabase, type Database } from '../../src/castore/index.js';
import { NixHash, storePathDigest } from '../../src/nix/index.js';
import { MemoryNarUploadIndex, SqliteNarUploadIndex, type NarUploadIndex, type UploadedNar } from '../../src/store/index.js';

const FILE_HASH = new Uint8Array(32).fill(7);
const OTHER_HASH = new Uint8Array(32).fill(8);
const STORE_PATH = storePathDigest(new Uint8Array(20).fill(1));
const LATER_PATH = storePathDigest(new Uint8Array(20).fill(2));
const UPLOAD: UploadedNar = {
  node: { kind: 'file', digest: B3Digest.fromHex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a'), size: 4, executable: false },
  narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
  narSize: 576,
  fileSize: 300,
};

let dirs: string[] = [];
let dbs: Database[] = [];
afterEach(async () => {
  for (const db of dbs) db.close();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  dirs = [];
  dbs = [];
});

async function sqlite(): Promise<Database> {
  const dir = await mkdtemp(join(tmpdir(), 'nb-uploads-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'meta.sqlite'));
  dbs.push(db);
  return db;
}

const backends: Array<[string, () => Promise<NarUploadIndex>]> = [
  ['memory', async () => new MemoryNarUploadIndex()],
  ['sqlite', async () => new SqliteNarUploadIndex(await sqlite())],
];

describe.each(backends)('%s NarUploadIndex', (_name, make) => {
  it('holds an upload unclaimed until a narinfo claims it, and keeps the last claim', async () => {
    const index = await make();
    await index.put(FILE_HASH, UPLOAD);
    expect((await index.get(FILE_HASH))?.claimedBy).toBeUndefined();
    await index.claim(FILE_HASH, STORE_PATH);
    expect((await index.get(FILE_HASH))?.claimedBy).toEqual(STORE_PATH);
    await index.claim(FILE_HASH, LATER_PATH);
    expect((await index.get(FILE_HASH))?.claimedBy).toEqual(LATER_PATH);
  });

  it('keeps the claim when the same file is uploaded again (a concurrent push of the same NAR)', async () => {
    const index = await make();
    await index.put(FILE_HASH, UPLOAD);
    await index.claim(FILE_HASH, STORE_PATH);
    await index.put(FILE_HASH, UPLOAD);
    const again = await index.get(FILE_HASH);
    expect(again?.claimedBy).toEqual(STORE_PATH);
    expect(again?.narSize).toBe(UPLOAD.narSize);
  });

  it('ignores a claim on an unknown upload', async () => {
    const index = await make();
    await index.claim(OTHER_HASH, STORE_PATH);
    expect(await index.get(OTHER_HASH)).toBeNull();
  });
});

it('reads uploads recorded before claims existed, and claims them', async () => {
  const db = await sqlite();
  // The first schema version, as earlier releases left it (openDatabase made schema_versions).
  db.exec(`CREATE TABLE nar_uploads (file_sha256 BLOB PRIMARY KEY, root_node BLOB NOT NULL, nar_sha256 BLOB NOT NULL,
           nar_size INTEGER NOT NULL, file_size INTEGER NOT NULL) WITHOUT ROWID`);
  db.prepare('INSERT INTO schema_versions (component, version) VALUES (?, ?)').run(['nar_uploads', 1]);
  db.prepare('INSERT INTO nar_uploads VALUES (?, ?, ?, ?, ?)').run([
    Buffer.from(FILE_HASH),
    Buffer.from(encodeRootNode(new Uint8Array(0), UPLOAD.node)),
    Buffer.from(UPLOAD.narHash.digest),
    UPLOAD.narSize,
    UPLOAD.fileSize,
  ]);
  const index = new SqliteNarUploadIndex(db);
  expect((await index.get(FILE_HASH))?.claimedBy).toBeUndefined();
  await index.claim(FILE_HASH, STORE_PATH);
  expect((await index.get(FILE_HASH))?.claimedBy).toEqual(STORE_PATH);
});
