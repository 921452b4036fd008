// PathInfoService conformance on memory, on a real SQLite file and on a real PostgreSQL, including reopening them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { B3Digest, migrate, openDatabase, PostgresDatabase, SymlinkTarget } from '../../src/castore/index.js';
import { NixHash, Signature, StorePath, parseContentAddress } from '../../src/nix/index.js';
import {
  CachingPathInfoService,
  encodePathInfo,
  PostgresPathInfoChanges,
  PostgresPathInfoService,
  MemoryPathInfoService,
  pathInfoServiceFromUrl,
  SqlitePathInfoService,
  type PathInfo,
  type PathInfoService,
  type RecentPathInfos,
} from '../../src/store/index.js';
import { describePostgres, useTestDatabase } from '../castore/postgres-fixture.js';
import { plainPathInfo as plain } from './plain-path-info.js';

const dep = StorePath.parseBasename('x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt');
const INFO: PathInfo = {
  storePath: StorePath.parseBasename('2r4c0iwl695hgsdxkablgafiz6pkkam6-y'),
  node: { kind: 'directory', digest: B3Digest.fromHex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a'), size: 4 },
  references: [StorePath.parseBasename('rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree'), dep],
  narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
  narSize: 576,
  signatures: [Signature.parse('test-1:3sPEu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==')],
  deriver: StorePath.parseBasename('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv'),
  ca: parseContentAddress('fixed:r:sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil'),
};

let dirs: string[] = [];
let dbs: Array<{ close(): void }> = [];
afterEach(async () => {
  for (const db of dbs) db.close();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  dirs = [];
  dbs = [];
});

async function sqliteFile() {
  const dir = await mkdtemp(join(tmpdir(), 'nb-pathinfo-'));
  dirs.push(dir);
  return join(dir, 'meta.sqlite');
}

const backends: Array<[string, () => Promise<PathInfoService>]> = [
  ['memory', async () => new MemoryPathInfoService()],
  [
    'sqlite',
    async () => {
      const db = openDatabase(await sqliteFile());
      dbs.push(db);
      return new SqlitePathInfoService(db);
    },
  ],
];

describe.each(backends)('%s PathInfoService', (_name, make) => {
  describePathInfoService(make);
});

describePostgres('postgres PathInfoService', () => {
  const database = useTestDatabase('path_infos');
  const open = async (url: string) => {
    const opened = await pathInfoServiceFromUrl(url);
    dbs.push(opened);
    return opened.service;
  };
  describePathInfoService(async () => open(await database.freshSchemaUrl()));

  it('lists in digest order across pages, as SQLite does', async () => {
    const service = await open(await database.freshSchemaUrl());
    const digests = Array.from({ length: 2500 }, (_, i) => {
      const digest = new Uint8Array(20);
      new DataView(digest.buffer).setUint32(0, (i * 2654435761) >>> 0); // scattered, not in insertion order
      return digest;
    });
    await Promise.all(digests.map((digest) => service.put({ ...INFO, storePath: StorePath.fromParts(digest, 'y') })));
    const listed: string[] = [];
    for await (const info of service.list()) listed.push(Buffer.from(info.storePath.digest).toString('hex'));
    expect(listed).toEqual(digests.map((d) => Buffer.from(d).toString('hex')).sort());
  });

  it('PathInfos put by one replica are seen by another', async () => {
    const url = await database.freshSchemaUrl();
    await (await open(url)).put(INFO);
    expect(plain(await (await open(url)).get(INFO.storePath.digest))).toEqual(plain(INFO));
  });

  // Replicas merge signatures by read-modify-write too: puts racing from two pools must each keep the other's.
  it('keeps every signature when replicas put the same contents at once', async () => {
    const url = await database.freshSchemaUrl();
    const [a, b] = [await open(url), await open(url)];
    await a.put({ ...INFO, signatures: [] });
    const signed = (name: string) => ({ ...INFO, signatures: [Signature.parse(`${name}:${INFO.signatures[0]?.toString().split(':')[1]}`)] });
    const names = Array.from({ length: 12 }, (_, i) => `key-${i}`);
    await Promise.all(names.map((name, i) => (i % 2 === 0 ? a : b).put(signed(name))));
    expect((await a.get(INFO.storePath.digest))?.signatures.map((sig) => sig.keyName).sort()).toEqual([...names].sort());
  });

  // A replica's narinfo cache must not serve a path another replica deleted (or re-signed) for its whole TTL.
  it("a change announced through one replica drops another replica's cached copy", async () => {
    const url = new URL(await database.freshSchemaUrl());
    const [dbA, dbB] = [await PostgresDatabase.open(url), await PostgresDatabase.open(url)];
    dbs.push({ close: () => void dbA.close() }, { close: () => void dbB.close() });
    const a = await PostgresPathInfoService.open(dbA);
    const cachedB = new CachingPathInfoService(await PostgresPathInfoService.open(dbB), { peers: new PostgresPathInfoChanges(dbB) });
    await a.put(INFO);
    expect(await cachedB.get(INFO.storePath.digest)).not.toBeNull();
    await dbA.query('delete behind the cache', 'DELETE FROM path_infos');
    expect(await cachedB.get(INFO.storePath.digest)).not.toBeNull(); // served from B's cache: what the announcement is for
    const changes = new PostgresPathInfoChanges(dbA);
    // Announced until heard: B starts listening when it subscribes, and an announcement before that reaches nobody.
    await vi.waitFor(
      async () => {
        await changes.changed(INFO.storePath.digest);
        expect(await cachedB.get(INFO.storePath.digest)).toBeNull();
      },
      { timeout: 5_000, interval: 50 },
    );
  });

  it('stores the same PathInfo bytes as SQLite', async () => {
    const url = await database.freshSchemaUrl();
    await (await open(url)).put(INFO);
    const { rows } = await database.sql(`SELECT data FROM ${new URL(url).searchParams.get('schema')}.path_infos`);
    expect(Buffer.from(rows[0].data).equals(Buffer.from(encodePathInfo(INFO)))).toBe(true);
  });
});

function describePathInfoService(make: () => Promise<PathInfoService>): void {
  // Worker processes sign and merge by read-modify-write; a put built from an older read must not drop a signature
  // another process added meanwhile, while a key's own fresh signature replaces what claimed that key's name.
  it('keeps the stored signatures of other keys when the same contents are put again', async () => {
    const service = await make();
    const other = Signature.parse('other-1:3sPEu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==');
    const fresh = Signature.parse('test-1:AAAAu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==');
    await service.put({ ...INFO, signatures: [...INFO.signatures, other] });
    await service.put({ ...INFO, signatures: [fresh] });
    expect((await service.get(INFO.storePath.digest))?.signatures.map(String)).toEqual([fresh, other].map(String));
  });
  it('returns null for a missing path', async () => {
    expect(await (await make()).get(INFO.storePath.digest)).toBeNull();
  });

  it('stores every field and lists what it holds', async () => {
    const service = await make();
    await service.put(INFO);
    expect(plain(await service.get(INFO.storePath.digest))).toEqual(plain(INFO));
    const symlinkInfo: PathInfo = {
      ...INFO,
      storePath: dep,
      node: { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/x') },
      references: [],
      signatures: [],
    };
    const { deriver: _d, ca: _c, ...bare } = symlinkInfo;
    await service.put(bare);
    const listed = [];
    for await (const info of service.list()) listed.push(info.storePath.basename);
    expect(listed.sort()).toEqual([INFO.storePath.basename, dep.basename].sort());
    expect(plain(await service.get(dep.digest))).toEqual(plain(bare));
  });

  it('replaces the PathInfo of the same store path', async () => {
    const service = await make();
    await service.put(INFO);
    await service.put({ ...INFO, narSize: 577, signatures: [] });
    expect((await service.get(INFO.storePath.digest))?.signatures).toEqual([]);
  });
}

it('sqlite PathInfos survive reopening the database', async () => {
  const file = await sqliteFile();
  const first = openDatabase(file);
  await new SqlitePathInfoService(first).put(INFO);
  first.close();
  const second = openDatabase(file);
  dbs.push(second);
  expect(plain(await new SqlitePathInfoService(second).get(INFO.storePath.digest))).toEqual(plain(INFO));
});

describe('recently registered paths', () => {
  const named = (hashPart: string, name: string): PathInfo => ({ ...INFO, storePath: StorePath.parseBasename(`${hashPart}-${name}`) });
  const A = named('z45ailnkm27lnvhimqkhy08f6sh5m17d', 'a');
  const B = named('779m3di9zfa8v1jnyx2kd168ydc5pgss', 'b');
  const C = named('x96hvirq193g8zpxanfdkgkxys1bji78', 'c');

  const withClock: Array<[string, (now: () => number) => Promise<PathInfoService & RecentPathInfos>]> = [
    ['memory', async (now) => new MemoryPathInfoService(now)],
    [
      'sqlite',
      async (now) => {
        const db = openDatabase(await sqliteFile());
        dbs.push(db);
        return new SqlitePathInfoService(db, now);
      },
    ],
  ];

  it.each(withClock)('%s lists the newest first, and a re-put keeps its first registration time', async (_name, make) => {
    let clock = 1_000;
    const service = await make(() => clock);
    for (const info of [B, A, C]) {
      clock += 10;
      await service.put(info);
    }
    clock += 10;
    await service.put({ ...B, narSize: 577, signatures: [] }); // replacing its data
    const recent = await service.recent(2);
    expect(recent.map((r) => r.info.storePath.name)).toEqual(['c', 'a']);
    expect(recent.map((r) => r.registeredAt?.getTime())).toEqual([1_030, 1_020]);
    const all = await service.recent(10);
    expect(all.map((r) => r.info.storePath.name)).toEqual(['c', 'a', 'b']);
    expect(all[2]?.registeredAt?.getTime()).toBe(1_010);
    expect(all[2]?.info.signatures).toEqual([]);
  });

  it('sqlite lists paths stored before registration times were kept last, with a null time, through an index', async () => {
    const file = await sqliteFile();
    const old = openDatabase(file);
    dbs.push(old);
    // The schema as it was before registration times: one step, and a row written by that version.
    migrate(old, 'path_infos', ['CREATE TABLE path_infos (digest BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID']);
    old.prepare('INSERT INTO path_infos (digest, data) VALUES (?, ?)').run([Buffer.from(A.storePath.digest), Buffer.from(encodePathInfo(A))]);
    const service = new SqlitePathInfoService(old, () => 5_000);
    await service.put(B);
    const recent = await service.recent(10);
    expect(recent.map((r) => [r.info.storePath.name, r.registeredAt?.getTime() ?? null])).toEqual([
      ['b', 5_000],
      ['a', null],
    ]);
    const plan = old.prepare('EXPLAIN QUERY PLAN SELECT data, registered_at FROM path_infos ORDER BY registered_at DESC LIMIT ?').all([10]) as Array<{
      detail: string;
    }>;
    expect(plan.map((row) => row.detail).join(' ')).toMatch(/USING INDEX path_infos_registered/);
  });
});
