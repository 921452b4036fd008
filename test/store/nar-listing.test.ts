import { describe, expect, it } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { ingestNar, narListing, planNar } from '../../src/store/index.js';
import { nar, str } from '../nar/nar-bytes.js';

async function* once(bytes: Uint8Array) {
  yield bytes;
}

const file = (contents: string, executable = false) => nar('(', 'type', 'regular', ...(executable ? ['executable', ''] : []), 'contents', str(contents), ')');
const entry = (name: string, node: Uint8Array) => nar('entry', '(', 'name', name, 'node', node, ')');
const directory = (...entries: Uint8Array[]) => nar('(', 'type', 'directory', ...entries, ')');

/** A directory `depth` levels deep, each level holding a file `f` and the next level `d`. */
function chain(depth: number): Uint8Array {
  let node = file('leaf');
  for (let level = 0; level < depth; level++) node = directory(entry('d', node), entry('f', file(`level ${level}`)));
  return node;
}

type Listed = { type: string; size?: number; narOffset?: number; executable?: boolean; target?: string; entries?: Record<string, Listed> };

/** Every file of a listing, with the bytes its narOffset and size point at in `bytes`. */
function filesAt(listed: Listed, bytes: Uint8Array, path = ''): [string, string, boolean][] {
  if (listed.type === 'regular') {
    const at = Buffer.from(bytes.subarray(listed.narOffset, (listed.narOffset ?? 0) + (listed.size ?? 0))).toString();
    return [[path, at, listed.executable === true]];
  }
  return Object.entries(listed.entries ?? {}).flatMap(([name, child]) => filesAt(child, bytes, `${path}/${name}`));
}

async function stored(narBytes: Uint8Array) {
  const castore: Castore = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
  const { node } = await ingestNar(once(narBytes), castore);
  return { node, castore };
}

describe('narListing and planNar share one layout of the tree', () => {
  it('puts every narOffset at its file contents, in Nix 2.8 shape, with NarSize the NAR length', async () => {
    const narBytes = nar(
      'nix-archive-1',
      directory(
        entry('__proto__', file('proto')),
        entry('bin', directory(entry('run', file('#!/bin/sh\n', true)), entry('sh', nar('(', 'type', 'symlink', 'target', '/bin/sh', ')')))),
        entry('empty', directory()),
        entry('z', file('odd length!')),
      ),
    );
    const { node, castore } = await stored(narBytes);
    const text = await narListing(node, castore.directories);
    expect(text).toBe(
      '{"version":1,"root":{"type":"directory","entries":{"__proto__":{"type":"regular","size":5,"narOffset":240},' +
        '"bin":{"type":"directory","entries":{"run":{"type":"regular","size":10,"executable":true,"narOffset":600},' +
        '"sh":{"type":"symlink","target":"/bin/sh"}}},"empty":{"type":"directory","entries":{}},' +
        '"z":{"type":"regular","size":11,"narOffset":1192}}}}',
    );
    expect(filesAt(JSON.parse(text).root, narBytes)).toEqual([
      ['/__proto__', 'proto', false],
      ['/bin/run', '#!/bin/sh\n', true],
      ['/z', 'odd length!', false],
    ]);
    expect((await planNar(node, castore)).narSize).toBe(narBytes.byteLength);
  });

  it('lists a deep tree with every offset right', async () => {
    const narBytes = nar('nix-archive-1', chain(300));
    const { node, castore } = await stored(narBytes);
    const files = filesAt(JSON.parse(await narListing(node, castore.directories)).root, narBytes);
    expect(files).toHaveLength(301);
    expect(files.map(([, contents]) => contents)).toEqual(['leaf', ...Array.from({ length: 300 }, (_, level) => `level ${level}`)]);
    expect((await planNar(node, castore)).narSize).toBe(narBytes.byteLength);
  });

  it('a lone file or symlink is the whole tree', async () => {
    const fileNar = nar('nix-archive-1', file('x', true));
    const lone = await stored(fileNar);
    expect(await narListing(lone.node, lone.castore.directories)).toBe('{"version":1,"root":{"type":"regular","size":1,"executable":true,"narOffset":128}}');
    expect((await planNar(lone.node, lone.castore)).narSize).toBe(fileNar.byteLength);
  });
});
