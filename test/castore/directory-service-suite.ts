// describeDirectoryService: the behaviour every DirectoryService backend must show, run once per backend.
import { afterEach, describe, expect, it } from 'vitest';
import { Directory, DirectoryBuilder, PathComponent, SymlinkTarget, blake3, type DirectoryService, type Node } from '../../src/castore/index.js';
import { NarBridgeError, type ErrorCode } from '../../src/errors.js';

export interface DirectoryServiceFixture {
  readonly service: DirectoryService;
  readonly cleanup?: () => Promise<void>;
}

const name = (s: string) => PathComponent.fromString(s);
const dirNode = (d: Directory): Node => ({ kind: 'directory', digest: d.digest(), size: d.size });
const fileNode = (content: string): Node => ({ kind: 'file', digest: blake3(Buffer.from(content)), size: content.length, executable: false });

/**
 * A DAG with a shared subdirectory: root → {a: A, b: B, c: leaf}, A → {x: leaf}, B → {y: leaf, z: A}.
 * Leaves first, as a putter wants them.
 */
export function sharedDag(): { leaf: Directory; a: Directory; b: Directory; root: Directory } {
  const leaf = new DirectoryBuilder().add(name('f'), fileNode('leaf')).build();
  const a = new DirectoryBuilder().add(name('x'), dirNode(leaf)).build();
  const b = new DirectoryBuilder().add(name('y'), dirNode(leaf)).add(name('z'), dirNode(a)).build();
  const root = new DirectoryBuilder()
    .add(name('a'), dirNode(a))
    .add(name('b'), dirNode(b))
    .add(name('c'), dirNode(leaf))
    .add(name('l'), { kind: 'symlink', target: SymlinkTarget.fromString('c/f') })
    .build();
  return { leaf, a, b, root };
}

/** `root/{a/, b/c/}` with `a` and `c` both empty: one Directory at depths 1 and 2. Leaves first. */
export function twoDepthDag(): { b: Directory; root: Directory } {
  const b = new DirectoryBuilder().add(name('c'), dirNode(Directory.EMPTY)).build();
  const root = new DirectoryBuilder().add(name('a'), dirNode(Directory.EMPTY)).add(name('b'), dirNode(b)).build();
  return { b, root };
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(NarBridgeError);
  expect(NarBridgeError.is(err) && err.code).toBe(code);
}

async function collect(source: AsyncIterable<Directory>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of source) out.push(d.digest().toHex());
  return out;
}

export async function putAll(service: DirectoryService, directories: readonly Directory[]): Promise<string> {
  const putter = service.putter();
  for (const d of directories) await putter.put(d);
  return (await putter.close()).toHex();
}

export function describeDirectoryService(label: string, make: () => Promise<DirectoryServiceFixture>): void {
  describe(`DirectoryService: ${label}`, () => {
    let fixture: DirectoryServiceFixture;
    const open = async () => {
      fixture = await make();
      return fixture.service;
    };

    afterEach(async () => {
      await fixture.cleanup?.();
    });

    it('answers a missing directory with null', async () => {
      const dirs = await open();
      expect(await dirs.get(sharedDag().root.digest())).toBeNull();
    });

    it('stores a graph and returns the root digest from close', async () => {
      const dirs = await open();
      const { leaf, a, b, root } = sharedDag();
      expect(await putAll(dirs, [leaf, a, b, root])).toBe(root.digest().toHex());
      const back = await dirs.get(root.digest());
      expect(back?.digest().toHex()).toBe(root.digest().toHex());
      expect(back?.size).toBe(root.size);
      expect(back?.entries.map((e) => e.name.toString())).toEqual(['a', 'b', 'c', 'l']);
    });

    it('stores the empty directory', async () => {
      const dirs = await open();
      expect(await putAll(dirs, [Directory.EMPTY])).toBe(Directory.EMPTY.digest().toHex());
      expect((await dirs.get(Directory.EMPTY.digest()))?.entries).toEqual([]);
    });

    it('walks root first, breadth-first, each directory once', async () => {
      const dirs = await open();
      const { leaf, a, b, root } = sharedDag();
      await putAll(dirs, [leaf, a, b, root]);
      // root's children in entry order (a, b, c=leaf), then A's and B's children, all seen already.
      expect(await collect(dirs.getRecursive(root.digest()))).toEqual([root, a, b, leaf].map((d) => d.digest().toHex()));
      expect(await collect(dirs.getRecursive(b.digest()))).toEqual([b, leaf, a].map((d) => d.digest().toHex()));
    });

    it('walks a graph where one directory sits at two depths', async () => {
      const dirs = await open();
      const { b, root } = twoDepthDag();
      await putAll(dirs, [Directory.EMPTY, b, root]);
      expect(await collect(dirs.getRecursive(root.digest()))).toEqual([root, Directory.EMPTY, b].map((d) => d.digest().toHex()));
      expect((await dirs.get(b.digest()))?.digest().toHex()).toBe(b.digest().toHex());
    });

    it('fails getRecursive on a missing root', async () => {
      const dirs = await open();
      await expectCode(collect(dirs.getRecursive(sharedDag().root.digest())), 'NB_ERR_MISSING_OBJECT');
    });

    it('accepts a child stored by an earlier putter', async () => {
      const dirs = await open();
      const { leaf, a } = sharedDag();
      await putAll(dirs, [leaf]);
      expect(await putAll(dirs, [a])).toBe(a.digest().toHex());
      expect(await collect(dirs.getRecursive(a.digest()))).toHaveLength(2);
    });

    it('accepts the same directory twice', async () => {
      const dirs = await open();
      const { leaf, a } = sharedDag();
      expect(await putAll(dirs, [leaf, leaf, a, a])).toBe(a.digest().toHex());
    });

    it('rejects a child that was never put', async () => {
      const dirs = await open();
      const { a } = sharedDag();
      await expectCode(dirs.putter().put(a), 'NB_ERR_GRAPH_INCOMPLETE');
    });

    it('rejects a child whose size does not match its directory', async () => {
      const dirs = await open();
      const { leaf } = sharedDag();
      const liar = new DirectoryBuilder().add(name('x'), { kind: 'directory', digest: leaf.digest(), size: leaf.size + 1 }).build();
      const putter = dirs.putter();
      await putter.put(leaf);
      await expectCode(putter.put(liar), 'NB_ERR_GRAPH_INCOMPLETE');
    });

    it('rejects a child whose size does not match a stored directory', async () => {
      const dirs = await open();
      const { leaf } = sharedDag();
      await putAll(dirs, [leaf]);
      const liar = new DirectoryBuilder().add(name('x'), { kind: 'directory', digest: leaf.digest(), size: 0 }).build();
      await expectCode(dirs.putter().put(liar), 'NB_ERR_GRAPH_INCOMPLETE');
    });

    it('refuses to close an empty putter', async () => {
      const dirs = await open();
      await expectCode(dirs.putter().close(), 'NB_ERR_GRAPH_INCOMPLETE');
    });
  });
}
