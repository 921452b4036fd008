// --directory-service-addr / --path-info-service-addr postgresql://…: two servers with their own data dirs share one
// PostgreSQL, and see each other's Directories, PathInfos, NAR uploads and build logs — the stateless-replica setup.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { blake3 } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { openLocalStore, type OpenStore } from '../../src/cli/open-store.js';
import { openStoreOverrides } from '../../src/cli/service-overrides.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { NarBridgeError } from '../../src/errors.js';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { putAll, sharedDag } from '../castore/directory-service-suite.js';
import { plainPathInfo } from '../store/plain-path-info.js';

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function replica(url: string): Promise<OpenStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nb-replica-'));
  const overrides = await openStoreOverrides({
    dataDir,
    blobServiceAddr: null,
    directoryServiceAddr: url,
    pathInfoServiceAddr: url,
    grpcClientTokenFile: null,
  });
  const local = await openLocalStore(dataDir, overrides.services);
  cleanups.push(
    () => rm(dataDir, { recursive: true, force: true }),
    () => overrides.close(),
    () => local.close(),
  );
  return local;
}

describePostgres('a store whose metadata is in PostgreSQL', () => {
  const database = useTestDatabase('cli_store');

  it('shares Directories, PathInfos, NAR uploads and build logs between replicas', async () => {
    const url = await database.freshSchemaUrl();
    const a = await replica(url);
    const b = await replica(url);
    const { leaf, a: dirA, b: dirB, root } = sharedDag();
    await putAll(a.store.directories, [leaf, dirA, dirB, root]);
    const node = { kind: 'directory', digest: root.digest(), size: root.size } as const;
    const info = {
      storePath: StorePath.parseBasename('2r4c0iwl695hgsdxkablgafiz6pkkam6-y'),
      node,
      references: [],
      narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
      narSize: 576,
      signatures: [],
    };
    await a.store.pathInfos.put(info);
    const fileHash = new Uint8Array(32).fill(7);
    await a.store.narUploads.put(fileHash, { node, narHash: info.narHash, narSize: 576, fileSize: 300 });
    const drv = StorePath.parseBasename('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv');
    await a.buildLogs.put(drv, blake3(Buffer.from('log')));

    expect((await b.store.directories.get(root.digest()))?.digest().toHex()).toBe(root.digest().toHex());
    expect(plainPathInfo(await b.store.pathInfos.get(info.storePath.digest))).toEqual(plainPathInfo(info));
    expect((await b.store.narUploads.get(fileHash))?.fileSize).toBe(300);
    expect((await b.buildLogs.get(drv))?.toHex()).toBe(blake3(Buffer.from('log')).toHex());
  });

  it('nar-bridge migrate creates every table, reading URLs from flags and the environment', async () => {
    const url = new URL(await database.freshSchemaUrl());
    url.password = 'not-printed'; // trust auth on the test server ignores it
    let out = '';
    const io = { env: { NAR_BRIDGE_PATH_INFO_SERVICE_ADDR: url.href }, stdout: (t: string) => (out += t) };
    expect(await migrateCommand(['--directory-service-addr', url.href], io)).toBe(0);
    const { rows } = await database.sql('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [
      url.searchParams.get('schema'),
    ]);
    expect(rows.map((r) => r.table_name)).toEqual([
      'build_logs',
      'castore_directories',
      'nar_uploads',
      // the index of an s3:// blob service, so a rollout to S3 blobs needs no CREATE rights either
      'object_chunked_blobs',
      'object_pack_records',
      'object_packs',
      'path_infos',
      'schema_versions',
    ]);
    expect(out).toContain('schema up to date');
    expect(out).not.toContain('not-printed');
  });

  it('nar-bridge migrate without a PostgreSQL URL is a usage error', async () => {
    const err = await migrateCommand(['--directory-service-addr', 'memory://'], { env: {}, stdout: () => undefined }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_CONFIG');
  });
});
