// writeNar: exact bytes, output coalescing, pass-through of large chunks, and rejection of bad event sequences.

import { describe, expect, it } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { narStringLength, writeNar, type NarEvent, type NarOutputEvent } from '../../src/nar/index.js';
import { collectBytes, concatBytes, directoryNar, expectSameBytes, nar, str } from './nar-bytes.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

async function* bytesOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

function file(name: string | null, contents: Uint8Array, size = contents.length): NarEvent {
  return { type: 'file', name: name === null ? null : utf8(name), executable: false, size, contents: bytesOf(contents) };
}

async function chunksOf(events: Iterable<NarEvent>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeNar(events)) chunks.push(chunk);
  return chunks;
}

async function failure(events: Iterable<NarOutputEvent>): Promise<NarBridgeError> {
  const err: unknown = await collectBytes(writeNar(events)).then(
    () => new Error('wrote without error'),
    (e: unknown) => e,
  );
  if (!NarBridgeError.is(err)) throw err;
  return err;
}

describe('writeNar', () => {
  it('writes a directory of empty files exactly', async () => {
    const events: NarEvent[] = [{ type: 'directory', name: null }, file('a', new Uint8Array(0)), file('b', new Uint8Array(0)), { type: 'end' }];
    expectSameBytes(await collectBytes(writeNar(events)), directoryNar(['a', 'b']));
  });

  it('writes an executable with padding', async () => {
    const events: NarEvent[] = [{ type: 'file', name: null, executable: true, size: 3, contents: bytesOf(utf8('a'), utf8('bc')) }];
    const expected = nar('nix-archive-1', '(', 'type', 'regular', 'executable', '', 'contents', str('abc'), ')');
    expectSameBytes(await collectBytes(writeNar(events)), expected);
  });

  it('coalesces 1,000 tiny files into a few output chunks', async () => {
    const chunks = await chunksOf(tinyFiles(fileNames(1000)));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    expect(total).toBeGreaterThan(150_000);
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil(total / (64 * 1024)));
  });

  it('passes a large content chunk through without copying', async () => {
    const big = new Uint8Array(1024 * 1024).fill(1);
    const chunks = await chunksOf([file(null, big)]);
    expect(chunks.filter((c) => c === big)).toHaveLength(1);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(24 + 16 * 4 + narStringLength(big.length) + 16);
  });

  it('does not alias output chunks it has already yielded', async () => {
    const names = fileNames(3000);
    expectSameBytes(concatBytes(await chunksOf(tinyFiles(names))), directoryNar(names, 'x'));
  });

  it('rejects contents shorter than the size', async () => {
    const err = await failure([file(null, utf8('abc'), 5)]);
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'NB_ERR_HASH_MISMATCH',
      message: 'file contents 3 bytes, expected 5',
    });
  });

  it('rejects contents longer than the size before emitting them', async () => {
    const emitted: Uint8Array[] = [];
    const events = [{ type: 'directory', name: null } as const, file('a', new Uint8Array(20_000), 10)];
    await expect(
      (async () => {
        for await (const chunk of writeNar(events)) emitted.push(chunk);
      })(),
    ).rejects.toMatchObject({ code: 'NB_ERR_HASH_MISMATCH', message: 'file contents at least 20000 bytes, expected 10' });
    expect(emitted).toEqual([]);
  });

  it('writes contents already in memory as it writes streamed ones, with no await per event or file', async () => {
    const names = fileNames(1000);
    const contents = (i: number) => [utf8('ab'.repeat(i % 7)), new Uint8Array(i % 3 === 0 ? 2000 : 0).fill(i)];
    const size = (i: number) => contents(i).reduce((n, c) => n + c.length, 0);
    function* inMemory(): Generator<NarOutputEvent> {
      yield { type: 'directory', name: null };
      for (const [i, n] of names.entries()) yield { type: 'file', name: utf8(n), executable: i % 5 === 0, size: size(i), contents: contents(i) };
      yield { type: 'end' };
    }
    const streamed: NarEvent[] = [
      { type: 'directory', name: null },
      ...names.map((n, i): NarEvent => ({ type: 'file', name: utf8(n), executable: i % 5 === 0, size: size(i), contents: bytesOf(...contents(i)) })),
      { type: 'end' },
    ];
    let turns = 0;
    let writing = true;
    const ticker = (async () => {
      for (; writing; turns++) await null;
    })();
    const written = await collectBytes(writeNar(inMemory()));
    writing = false;
    await ticker;
    expectSameBytes(written, await collectBytes(writeNar(streamed)));
    // One or two per output chunk handed on; a turn per event or per file would be thousands.
    expect(turns).toBeLessThan(200);
  });

  it('checks the size of contents in memory like that of streamed ones', async () => {
    const short = await failure([{ type: 'file', name: null, executable: false, size: 5, contents: [utf8('ab'), utf8('c')] }]);
    expect(short.message).toBe('file contents 3 bytes, expected 5');
    const emitted: Uint8Array[] = [];
    const long: NarOutputEvent = { type: 'file', name: null, executable: false, size: 10, contents: [new Uint8Array(20_000)] };
    await expect(
      (async () => {
        for await (const chunk of writeNar([long])) emitted.push(chunk);
      })(),
    ).rejects.toMatchObject({ code: 'NB_ERR_HASH_MISMATCH', message: 'file contents at least 20000 bytes, expected 10' });
    expect(emitted).toEqual([]);
  });

  it('closes the events it was given when its reader stops early', async () => {
    let closed = false;
    function* events(): Generator<NarOutputEvent> {
      try {
        yield { type: 'directory', name: null };
        for (const n of fileNames(3000)) yield { type: 'file', name: utf8(n), executable: false, size: 100, contents: [new Uint8Array(100)] };
        yield { type: 'end' };
      } finally {
        closed = true;
      }
    }
    for await (const _ of writeNar(events())) break;
    expect(closed).toBe(true);
  });

  it.each<[string, NarEvent[], string]>([
    ['no events', [], 'no root node'],
    ['an end before the root', [{ type: 'end' }], '"end" without an open directory'],
    ['a named root', [file('a', new Uint8Array(0))], 'root node has a name'],
    ['an unnamed entry', [{ type: 'directory', name: null }, file(null, new Uint8Array(0))], 'directory entry without a name'],
    ['unsorted entries', [{ type: 'directory', name: null }, file('b', new Uint8Array(0)), file('a', new Uint8Array(0))], 'entry names not strictly ascending'],
    [
      'duplicate entries',
      [{ type: 'directory', name: null }, file('a', new Uint8Array(0)), file('a', new Uint8Array(0))],
      'entry names not strictly ascending',
    ],
    ['an unclosed directory', [{ type: 'directory', name: null }], '1 directories left open'],
    ['a second root', [file(null, new Uint8Array(0)), file(null, new Uint8Array(0))], 'node after the root node'],
    ['an extra end', [{ type: 'directory', name: null }, { type: 'end' }, { type: 'end' }], '"end" without an open directory'],
  ])('rejects %s', async (_, events, reason) => {
    const err = await failure(events);
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'NB_ERR_NAR_MALFORMED',
      message: `invalid NAR event sequence: ${reason}`,
    });
  });
});

describe('narStringLength', () => {
  it.each([
    [0, 8],
    [1, 16],
    [8, 16],
    [9, 24],
    [2 ** 40 + 1, 8 + 2 ** 40 + 8],
  ])('of %d data bytes is %d', (n, expected) => {
    expect(narStringLength(n)).toBe(expected);
  });
});

function fileNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `f${String(i).padStart(4, '0')}`);
}

/** A root directory of files each holding "x". */
function tinyFiles(names: readonly string[]): NarEvent[] {
  return [{ type: 'directory', name: null }, ...names.map((n) => file(n, utf8('x'))), { type: 'end' }];
}
