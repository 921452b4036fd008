// The DirectoryService conformance suite on a real PostgreSQL, plus what only a shared database shows.
import { expect, it } from 'vitest';
import {
  DirectoryBuilder,
  directoryServiceFromUrl,
  encodeDirectory,
  PathComponent,
  PostgresDatabase,
  PostgresDirectoryService,
  SymlinkTarget,
  traverseDirectories,
} from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { describeDirectoryService, putAll, sharedDag } from './directory-service-suite.js';
import { describePostgres, useTestDatabase } from './postgres-fixture.js';

describePostgres('PostgresDirectoryService', () => {
  const database = useTestDatabase('directories');

  describeDirectoryService('postgres', async () => {
    const opened = await directoryServiceFromUrl(await database.freshSchemaUrl());
    return { service: opened.service, cleanup: async () => opened.close() };
  });

  it('stores the same canonical bytes as the SQLite backend, readable by another replica', async () => {
    const url = await database.freshSchemaUrl();
    const { leaf, a, b, root } = sharedDag();
    const writer = await directoryServiceFromUrl(url);
    // The other spelling of the scheme (DATABASE_URL usually says postgres://) names the same database.
    const reader = await directoryServiceFromUrl(url.replace(/^postgres:/, 'postgresql:'));
    try {
      await putAll(writer.service, [leaf, a, b, root]);
      const schema = new URL(url).searchParams.get('schema');
      const { rows } = await database.sql(`SELECT data, size FROM ${schema}.castore_directories WHERE digest = $1`, [Buffer.from(root.digest().bytes)]);
      expect(Buffer.from(rows[0].data).equals(Buffer.from(encodeDirectory(root)))).toBe(true);
      expect(Number(rows[0].size)).toBe(root.size);
      const seen: string[] = [];
      for await (const d of reader.service.getRecursive(root.digest())) seen.push(d.digest().toHex());
      expect(seen).toEqual([root, a, b, leaf].map((d) => d.digest().toHex()));
    } finally {
      writer.close();
      reader.close();
    }
  });

  it('reports a row whose bytes do not match its digest as a storage error', async () => {
    const url = await database.freshSchemaUrl();
    const db = await PostgresDatabase.open(new URL(url));
    try {
      const dirs = await PostgresDirectoryService.open(db);
      const { leaf, a } = sharedDag();
      await putAll(dirs, [leaf, a]);
      const schema = new URL(url).searchParams.get('schema');
      await database.sql(`UPDATE ${schema}.castore_directories SET data = $1 WHERE digest = $2`, [
        Buffer.from(encodeDirectory(leaf)),
        Buffer.from(a.digest().bytes),
      ]);
      const err = await dirs.get(a.digest()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_STORAGE');
    } finally {
      await db.close();
    }
  });

  it('walks a level wider than one query, in the same order as one get per directory', async () => {
    const opened = await directoryServiceFromUrl(await database.freshSchemaUrl());
    try {
      // 600 distinct leaves under one root, with a shared grandchild: levels of 1, 600 and 1 directories.
      const grandchild = new DirectoryBuilder().add(PathComponent.fromString('f'), { kind: 'symlink', target: SymlinkTarget.fromString('x') }).build();
      const leaves = Array.from({ length: 600 }, (_, i) =>
        new DirectoryBuilder()
          .add(PathComponent.fromString('g'), { kind: 'directory', digest: grandchild.digest(), size: grandchild.size })
          .add(PathComponent.fromString(`n${i}`), { kind: 'symlink', target: SymlinkTarget.fromString('y') })
          .build(),
      );
      let builder = new DirectoryBuilder();
      for (const [i, leaf] of leaves.entries())
        builder = builder.add(PathComponent.fromString(`d${String(i).padStart(3, '0')}`), { kind: 'directory', digest: leaf.digest(), size: leaf.size });
      const root = builder.build();
      await putAll(opened.service, [grandchild, ...leaves, root]);
      const walked: string[] = [];
      for await (const d of opened.service.getRecursive(root.digest())) walked.push(d.digest().toHex());
      const oneByOne: string[] = [];
      for await (const d of traverseDirectories(root.digest(), (digest) => opened.service.get(digest))) oneByOne.push(d.digest().toHex());
      expect(walked).toHaveLength(602);
      expect(walked).toEqual(oneByOne);
    } finally {
      opened.close();
    }
  });

  it('yields what it found before a missing directory, then fails naming it', async () => {
    const url = await database.freshSchemaUrl();
    const opened = await directoryServiceFromUrl(url);
    try {
      const { leaf, a, b, root } = sharedDag();
      await putAll(opened.service, [leaf, a, b, root]);
      await database.sql(`DELETE FROM ${new URL(url).searchParams.get('schema')}.castore_directories WHERE digest = $1`, [Buffer.from(leaf.digest().bytes)]);
      const seen: string[] = [];
      const err = await (async () => {
        for await (const d of opened.service.getRecursive(root.digest())) seen.push(d.digest().toHex());
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_MISSING_OBJECT');
      expect(String(NarBridgeError.is(err) && err.message)).toContain(leaf.digest().toHex());
      expect(seen).toEqual([root, a, b].map((d) => d.digest().toHex()));
    } finally {
      opened.close();
    }
  });
});
