// Runs the DirectoryService conformance suite on memory and SQLite, plus SQLite persistence and integrity.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MemoryDirectoryService,
  SqliteDirectoryService,
  TieredDirectoryService,
  openDatabase,
  traverseDirectories,
  type B3Digest,
  type CallOptions,
  Directory,
  type DirectoryService,
} from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { describeDirectoryService, putAll, sharedDag, twoDepthDag } from './directory-service-suite.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'nar-bridge-dirs-'));
}

describeDirectoryService('memory', async () => ({ service: new MemoryDirectoryService() }));

describeDirectoryService('sqlite', async () => {
  const dir = await tempDir();
  const db = openDatabase(join(dir, 'meta.db'));
  return {
    service: new SqliteDirectoryService(db),
    cleanup: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeDirectoryService('tiered, written near', async () => ({
  service: new TieredDirectoryService(new MemoryDirectoryService(), new MemoryDirectoryService()),
}));

/** Writes go to far, reads through the tiers: every first read fills near from far. */
describeDirectoryService('tiered, read through from far', async () => {
  const far = new MemoryDirectoryService();
  const tiered = new TieredDirectoryService(new MemoryDirectoryService(), far);
  return {
    service: {
      get: (digest, opts) => tiered.get(digest, opts),
      getRecursive: (root, opts) => tiered.getRecursive(root, opts),
      putter: (opts) => far.putter(opts),
    },
  };
});

/** Counts the calls that would each be a round trip to a remote far. */
class CountingDirectoryService implements DirectoryService {
  calls = 0;
  constructor(private readonly inner: DirectoryService) {}
  get(digest: B3Digest, opts?: CallOptions) {
    this.calls++;
    return this.inner.get(digest, opts);
  }
  getRecursive(root: B3Digest, opts?: CallOptions) {
    this.calls++;
    return this.inner.getRecursive(root, opts);
  }
  putter(opts?: CallOptions) {
    return this.inner.putter(opts);
  }
}

describe('TieredDirectoryService', () => {
  it('answers a get near lacks with one far round trip, and the next from near', async () => {
    const far = new MemoryDirectoryService();
    const { leaf, a, b, root } = sharedDag();
    await putAll(far, [leaf, a, b, root]);
    const counting = new CountingDirectoryService(far);
    const near = new MemoryDirectoryService();
    const tiered = new TieredDirectoryService(near, counting);
    expect((await tiered.get(root.digest()))?.digest().toHex()).toBe(root.digest().toHex());
    expect(counting.calls).toBe(1);
    expect((await tiered.get(b.digest()))?.digest().toHex()).toBe(b.digest().toHex());
    expect(counting.calls).toBe(1);
  });

  it('answers a get far lacks too with null after one far round trip', async () => {
    const counting = new CountingDirectoryService(new MemoryDirectoryService());
    const tiered = new TieredDirectoryService(new MemoryDirectoryService(), counting);
    expect(await tiered.get(sharedDag().root.digest())).toBeNull();
    expect(counting.calls).toBe(1);
  });

  it('fills near with a graph where one directory sits at two depths', async () => {
    const far = new MemoryDirectoryService();
    const { b, root } = twoDepthDag();
    await putAll(far, [Directory.EMPTY, b, root]);
    const near = new MemoryDirectoryService();
    await new TieredDirectoryService(near, far).get(root.digest());
    for (const d of [root, b, Directory.EMPTY]) expect((await near.get(d.digest()))?.digest().toHex()).toBe(d.digest().toHex());
  });
});

describe('SqliteDirectoryService on disk', () => {
  it('keeps directories after the database is closed and reopened', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir, 'meta.db');
      const { leaf, a, b, root } = sharedDag();
      const first = openDatabase(path);
      await putAll(new SqliteDirectoryService(first), [leaf, a, b, root]);
      first.close();

      const second = openDatabase(path);
      const dirs = new SqliteDirectoryService(second); // migrating again is a no-op
      const seen: string[] = [];
      for await (const d of dirs.getRecursive(root.digest())) seen.push(d.digest().toHex());
      expect(seen).toEqual([root, a, b, leaf].map((d) => d.digest().toHex()));
      second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a row whose bytes do not match its digest as a storage error', async () => {
    const dir = await tempDir();
    const db = openDatabase(join(dir, 'meta.db'));
    try {
      const { leaf, a } = sharedDag();
      const dirs = new SqliteDirectoryService(db);
      await putAll(dirs, [leaf, a]);
      db.prepare('UPDATE castore_directories SET data = (SELECT data FROM castore_directories WHERE digest = ?) WHERE digest = ?').run([
        leaf.digest().bytes,
        a.digest().bytes,
      ]);
      const err = await dirs.get(a.digest()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('traverseDirectories', () => {
  it('fails when a child below the root is missing', async () => {
    const { leaf, a, b, root } = sharedDag();
    const present = new Map([root, a, b].map((d): [string, Directory] => [d.digest().toHex(), d]));
    const get = async (digest: B3Digest) => present.get(digest.toHex()) ?? null;
    const seen: string[] = [];
    const walk = (async () => {
      for await (const d of traverseDirectories(root.digest(), get)) seen.push(d.digest().toHex());
    })();
    const err = await walk.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_MISSING_OBJECT');
    expect(NarBridgeError.is(err) && err.message).toContain(leaf.digest().toHex());
    expect(seen).toEqual([root, a, b].map((d) => d.digest().toHex()));
  });
});
