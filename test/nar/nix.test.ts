// Round trips against real Nix: trees dumped by `nix-store --dump` read and re-written byte for byte.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readNar, writeNar } from '../../src/nar/index.js';
import { chunked, collectBytes, expectSameBytes, seededRandom, snapshot } from './nar-bytes.js';

function nixDump(path: string): Uint8Array {
  return new Uint8Array(execFileSync('nix-store', ['--dump', path], { maxBuffer: 64 * 1024 * 1024 }));
}

async function roundTrip(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  return collectBytes(writeNar(readNar(source)));
}

/** Names chosen to exercise bytewise order: uppercase before lowercase, '.' and '0' after a prefix, UTF-8 last. */
const EDGE_NAMES = ['a', 'a.b', 'a0', 'B', '~', 'with space', 'ünïcödé', '日本', '.hidden', '...', '-'];

describe('round trips with nix-store --dump', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nar-test-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function buildTree(): string {
    const root = join(dir, 'tree');
    mkdirSync(join(root, 'nested', 'deeper', 'deepest'), { recursive: true });
    mkdirSync(join(root, 'empty-dir'));
    for (const name of EDGE_NAMES) writeFileSync(join(root, name), `contents of ${name}\n`);
    writeFileSync(join(root, 'empty-file'), '');
    writeFileSync(join(root, 'nested', 'deeper', 'deepest', 'seven'), '1234567');
    writeFileSync(join(root, 'nested', 'eight'), '12345678');
    const big = new Uint8Array(70_001).map((_, i) => (i * 31) % 251);
    writeFileSync(join(root, 'nested', 'big'), big);
    writeFileSync(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(root, 'run.sh'), 0o755);
    symlinkSync('a', join(root, 'link-relative'));
    symlinkSync('/nix/store/does-not-exist', join(root, 'link-absolute'));
    symlinkSync('../nested/eight', join(root, 'nested', 'deeper', 'up'));
    return root;
  }

  it('reproduces a tree with nested, empty and executable nodes', async () => {
    const dump = nixDump(buildTree());
    expectSameBytes(await roundTrip(chunked(dump)), dump);
  });

  it('reproduces it when the input arrives in 1-byte chunks', async () => {
    const dump = nixDump(buildTree());
    expectSameBytes(await roundTrip(chunked(dump, () => 1)), dump);
  });

  it.each([1, 2, 3])('reproduces it in random chunk sizes (seed %d)', async (seed) => {
    const dump = nixDump(buildTree());
    const random = seededRandom(seed);
    // Mostly small chunks so tokens straddle boundaries, with occasional big ones.
    const source = chunked(dump, () => (random() < 0.1 ? Math.floor(random() * 100_000) : Math.floor(random() * 30) + 1));
    expectSameBytes(await roundTrip(source), dump);
  });

  it('lists entries in bytewise order with the right node kinds', async () => {
    const root = buildTree();
    const events = await snapshot(readNar(chunked(nixDump(root))));
    const topLevel: string[] = [];
    let depth = 0;
    for (const e of events) {
      if (e.type === 'end') depth -= 1;
      else if (depth === 1) topLevel.push(e.name ?? '');
      if (e.type === 'directory') depth += 1;
    }
    const expected = readdirSync(root).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(topLevel).toEqual(expected);
    expect(topLevel.slice(topLevel.indexOf('B'), topLevel.indexOf('B') + 4)).toEqual(['B', 'a', 'a.b', 'a0']);
    expect(events).toContainEqual({ type: 'file', name: 'run.sh', executable: true, size: 18, contents: '#!/bin/sh\necho hi\n' });
    expect(events).toContainEqual({ type: 'file', name: 'empty-file', executable: false, size: 0, contents: '' });
    expect(events).toContainEqual({ type: 'symlink', name: 'link-absolute', target: '/nix/store/does-not-exist' });
    expect(events.slice(events.findIndex((e) => e.type === 'directory' && e.name === 'empty-dir'))[1]).toEqual({
      type: 'end',
    });
  });

  it('reproduces a single file as the root', async () => {
    const path = join(dir, 'single');
    writeFileSync(path, 'just one file');
    const dump = nixDump(path);
    expectSameBytes(await roundTrip(chunked(dump, () => 5)), dump);
  });

  it('reproduces a symlink as the root', async () => {
    const path = join(dir, 'link');
    symlinkSync('target/of/link', path);
    const dump = nixDump(path);
    expect(await snapshot(readNar(chunked(dump)))).toEqual([{ type: 'symlink', name: null, target: 'target/of/link' }]);
    expectSameBytes(await roundTrip(chunked(dump, () => 3)), dump);
  });
});
