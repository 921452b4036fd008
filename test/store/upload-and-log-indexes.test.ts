// The NAR upload index and the build-log index behave alike on memory, SQLite and PostgreSQL: misses are null,
// puts replace, every field comes back, and (on the databases) another connection sees what one wrote.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { B3Digest, blake3, openDatabase, SymlinkTarget } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { SqliteBuildLogIndex, SqliteNarUploadIndex, type BuildLogIndex, type NarUploadIndex, type UploadedNar } from '../../src/store/index.js';
import { postgresStoreMetadataFromUrl } from '../../src/cli/postgres-metadata.js';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';

interface Indexes {
  readonly narUploads: NarUploadIndex;
  readonly buildLogs: BuildLogIndex;
}

const FILE_HASH = createHash('sha256').update('the uploaded file').digest();
const UPLOAD: UploadedNar = {
  node: { kind: 'file', digest: blake3(Buffer.from('contents')), size: 8, executable: true },
  narHash: NixHash.fromDigest('sha256', createHash('sha256').update('the nar').digest()),
  narSize: 2 ** 40 + 120, // past 32 bits: the size columns are 64-bit
  fileSize: 3_000_000_123,
};
const DRV = StorePath.parseBasename('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv');
const LOG = blake3(Buffer.from('compressed log'));

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups) await cleanup();
  cleanups = [];
});

function plainUpload(upload: UploadedNar | null) {
  return upload && { ...upload, narHash: upload.narHash.toString(), node: JSON.stringify(upload.node, (_k, v) => (v instanceof B3Digest ? v.toHex() : v)) };
}

function describeIndexes(make: () => Promise<Indexes>): void {
  it('answers misses with null', async () => {
    const { narUploads, buildLogs } = await make();
    expect(await narUploads.get(FILE_HASH)).toBeNull();
    expect(await buildLogs.get(DRV)).toBeNull();
  });

  it('returns every field of an upload, and replaces it on a second put', async () => {
    const { narUploads } = await make();
    await narUploads.put(FILE_HASH, UPLOAD);
    expect(plainUpload(await narUploads.get(FILE_HASH))).toEqual(plainUpload(UPLOAD));
    const second: UploadedNar = { ...UPLOAD, node: { kind: 'symlink', target: SymlinkTarget.fromString('x') }, fileSize: 1 };
    await narUploads.put(FILE_HASH, second);
    expect(plainUpload(await narUploads.get(FILE_HASH))).toEqual(plainUpload(second));
  });

  it('maps a drv to its log blob, the latest put winning', async () => {
    const { buildLogs } = await make();
    await buildLogs.put(DRV, LOG);
    expect((await buildLogs.get(DRV))?.toHex()).toBe(LOG.toHex());
    const newer = blake3(Buffer.from('another log'));
    await buildLogs.put(DRV, newer);
    expect((await buildLogs.get(DRV))?.toHex()).toBe(newer.toHex());
  });
}

describe('sqlite upload and log indexes', () =>
  describeIndexes(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nb-indexes-'));
    const db = openDatabase(join(dir, 'meta.sqlite'));
    cleanups.push(
      () => db.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    return { narUploads: new SqliteNarUploadIndex(db), buildLogs: new SqliteBuildLogIndex(db) };
  }));

describePostgres('postgres upload and log indexes', () => {
  const database = useTestDatabase('indexes');
  const open = async (url: string) => {
    const opened = await postgresStoreMetadataFromUrl(url);
    cleanups.push(() => opened.close());
    return opened.service;
  };
  describeIndexes(async () => open(await database.freshSchemaUrl()));

  it('an upload indexed by one replica is found by another', async () => {
    const url = await database.freshSchemaUrl();
    await (await open(url)).narUploads.put(FILE_HASH, UPLOAD);
    await (await open(url)).buildLogs.put(DRV, LOG);
    const other = await open(url);
    expect(plainUpload(await other.narUploads.get(FILE_HASH))).toEqual(plainUpload(UPLOAD));
    expect((await other.buildLogs.get(DRV))?.toHex()).toBe(LOG.toHex());
  });
});
