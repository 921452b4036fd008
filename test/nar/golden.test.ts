// Golden tvix NARs: exact event sequences, and byte-for-byte round trips through readNar → writeNar.

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readNar, writeNar } from '../../src/nar/index.js';
import { TVIX_DIR, chunked, collectBytes, expectSameBytes, fixture, seededRandom, snapshot } from './nar-bytes.js';

const NAR_FILES = readdirSync(TVIX_DIR).filter((f) => f.endsWith('.nar'));

describe('golden tvix NARs', () => {
  it('finds the fixtures', () => {
    expect(NAR_FILES).toHaveLength(8);
  });

  it.each(NAR_FILES)('%s round-trips byte for byte in one chunk', async (file) => {
    const bytes = fixture(file);
    expectSameBytes(await collectBytes(writeNar(readNar(chunked(bytes)))), bytes);
  });

  it.each(NAR_FILES)('%s round-trips byte for byte in random chunks', async (file) => {
    const bytes = fixture(file);
    const random = seededRandom(file.length);
    const source = chunked(bytes, () => Math.floor(random() * 40) + 1);
    expectSameBytes(await collectBytes(writeNar(readNar(source))), bytes);
  });

  it('complicated.nar gives its exact events', async () => {
    expect(await snapshot(readNar(chunked(fixture('complicated.nar'))))).toEqual([
      { type: 'directory', name: null },
      { type: 'file', name: '.keep', executable: false, size: 0, contents: '' },
      { type: 'symlink', name: 'aa', target: '/nix/store/somewhereelse' },
      { type: 'directory', name: 'keep' },
      { type: 'file', name: '.keep', executable: false, size: 0, contents: '' },
      { type: 'end' },
      { type: 'end' },
    ]);
  });

  it('popdirectories.nar closes nested directories in order', async () => {
    expect(await snapshot(readNar(chunked(fixture('popdirectories.nar'))))).toEqual([
      { type: 'directory', name: null },
      { type: 'directory', name: 'test' },
      { type: 'directory', name: 'tested' },
      { type: 'end' },
      { type: 'end' },
      { type: 'directory', name: 'tested' },
      { type: 'end' },
      { type: 'end' },
    ]);
  });

  it('symlink.nar is a root symlink', async () => {
    expect(await snapshot(readNar(chunked(fixture('symlink.nar'))))).toEqual([{ type: 'symlink', name: null, target: '/nix/store/somewhereelse' }]);
  });

  it('onebyteexecutable.nar is a root executable of one byte', async () => {
    expect(await snapshot(readNar(chunked(fixture('onebyteexecutable.nar'))))).toEqual([
      { type: 'file', name: null, executable: true, size: 1, contents: '\x01' },
    ]);
  });

  it('helloworld.nar is a root regular file', async () => {
    expect(await snapshot(readNar(chunked(fixture('helloworld.nar'))))).toEqual([
      { type: 'file', name: null, executable: false, size: 12, contents: 'Hello World!' },
    ]);
  });

  it('emptydirectory.nar is a root directory with no entries', async () => {
    expect(await snapshot(readNar(chunked(fixture('emptydirectory.nar'))))).toEqual([{ type: 'directory', name: null }, { type: 'end' }]);
  });
});
