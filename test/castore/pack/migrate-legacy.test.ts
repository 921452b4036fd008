// A data dir written by the file-per-blob release (blobs/<hh>/<hex>, chunks/<hh>/<hex>) opens and serves after the
// move into packs, which is resumable: interrupted after a few files, the next open finishes it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import {
  ChunkedBlobService,
  hasLegacyLayout,
  LocalBlobService,
  LocalChunkIndex,
  migrateLegacyLayout,
  openDatabase,
  PackBlobService,
  SqliteDirectoryService,
} from '../../../src/castore/index.js';
import { openLocalStore } from '../../../src/cli/open-store.js';
import { writeNar, type NarEvent } from '../../../src/nar/index.js';
import { StorePath } from '../../../src/nix/index.js';
import { ingestNar, planNar, SqlitePathInfoService, type Store } from '../../../src/store/index.js';
import { SqliteNarUploadIndex } from '../../../src/store/index.js';

const TREE_NAR = readFileSync('/work/shared/testdata/tvix/nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar');
const TREE = StorePath.parseBasename('00bgd045z0d4icpbc2yyz4gx48ak44la-tree');
const BIG = StorePath.parseBasename('11bgd045z0d4icpbc2yyz4gx48ak44la-big');

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function* once(bytes: Uint8Array) {
  yield bytes;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** One 3 MiB file: stored by the old release as FastCDC chunk files plus a chunk list. */
async function bigNar(): Promise<Buffer> {
  const contents = randomBytes(3 * 1024 * 1024);
  async function* events(): AsyncGenerator<NarEvent> {
    yield { type: 'file', name: null, executable: false, size: contents.length, contents: once(contents) };
  }
  return collect(writeNar(events()));
}

/** A data dir as the file-per-blob release wrote it (its open-store composition), holding two store paths. */
async function legacyDataDir(): Promise<{ dataDir: string; nars: Map<string, Buffer> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nar-bridge-legacy-'));
  dirs.push(dataDir);
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const store: Store = {
    blobs: new ChunkedBlobService(new LocalBlobService(join(dataDir, 'blobs')), new LocalChunkIndex(join(dataDir, 'chunks'))),
    directories: new SqliteDirectoryService(db),
    pathInfos: new SqlitePathInfoService(db),
    narUploads: new SqliteNarUploadIndex(db),
  };
  const nars = new Map<string, Buffer>();
  for (const [path, nar] of [
    [TREE, TREE_NAR],
    [BIG, await bigNar()],
  ] as const) {
    const { node, narHash, narSize } = await ingestNar(once(nar), store);
    await store.pathInfos.put({ storePath: path, node, narHash, narSize, references: [], signatures: [] });
    nars.set(path.basename, nar);
  }
  db.close();
  expect(await hasLegacyLayout(dataDir)).toBe(true);
  return { dataDir, nars };
}

async function expectServes(dataDir: string, nars: Map<string, Buffer>): Promise<void> {
  const local = await openLocalStore(dataDir);
  try {
    for (const path of [TREE, BIG]) {
      const info = await local.store.pathInfos.get(path.digest);
      if (!info) throw new Error(`${path.basename} lost`);
      const rendered = await collect((await planNar(info.node, local.store)).stream());
      expect(rendered.equals(nars.get(path.basename) ?? Buffer.alloc(0)), path.basename).toBe(true);
    }
  } finally {
    local.close();
  }
}

it('opens an old data dir, moves its blobs and chunk lists into packs with progress on stderr, and serves it', async () => {
  const { dataDir, nars } = await legacyDataDir();
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await expectServes(dataDir, nars);
  expect(stderr.mock.calls.map(([line]) => String(line)).join('')).toMatch(/file-per-blob layout[\s\S]*migration into packs: \d+ blobs .* 1 chunk lists moved/);
  expect(await hasLegacyLayout(dataDir)).toBe(false);
  expect((await readdir(dataDir)).sort()).not.toContain('blobs');
  await expectServes(dataDir, nars); // and again, with nothing left to move
});

it('an interrupted move finishes on the next open, losing nothing', async () => {
  const { dataDir, nars } = await legacyDataDir();
  const db = openDatabase(join(dataDir, 'meta.sqlite'));
  const packs = new PackBlobService(db, join(dataDir, 'packs'));
  const partial = await migrateLegacyLayout(dataDir, packs, { stopAfterFiles: 5 });
  await packs.close();
  db.close();
  expect(partial.blobs).toBe(5);
  expect(await hasLegacyLayout(dataDir)).toBe(true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await expectServes(dataDir, nars);
  expect(await hasLegacyLayout(dataDir)).toBe(false);
});
