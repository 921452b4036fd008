// readNar on hostile input: every malformation is a typed NB_ERR_NAR_MALFORMED naming its offset, never a hang.

import { describe, expect, it } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { readNar, type NarLimits } from '../../src/nar/index.js';
import { chunked, concatBytes, directoryNar, fixture, nar, snapshot, str, u64 } from './nar-bytes.js';

/** Parses `bytes` fully (draining contents) and returns the error it failed with. */
async function failure(source: Uint8Array | AsyncIterable<Uint8Array>, limits?: NarLimits): Promise<NarBridgeError> {
  const input = source instanceof Uint8Array ? chunked(source) : source;
  const err: unknown = await snapshot(readNar(input, limits)).then(
    () => new Error('parsed without error'),
    (e: unknown) => e,
  );
  if (!NarBridgeError.is(err)) throw err;
  expect(err.code).toBe('NB_ERR_NAR_MALFORMED');
  return err;
}

/** A source that yields `bytes` and then fails the test if the reader asks for more. */
async function* thenNothingMore(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
  throw new Error('reader pulled past the bytes it needed');
}

const HEADER = ['nix-archive-1', '(', 'type'] as const;
const ROOT_DIR = [...HEADER, 'directory'] as const;

describe('readNar rejects hostile input', () => {
  it('errors on every strict prefix of complicated.nar', async () => {
    const whole = fixture('complicated.nar');
    for (let n = 0; n < whole.length; n += 1) {
      const err = await failure(whole.subarray(0, n));
      expect(err.message).toBe(`unexpected end of NAR at byte ${n}`);
    }
  });

  it('errors on every strict prefix in 1-byte chunks', async () => {
    const whole = fixture('complicated.nar');
    for (let n = 0; n < whole.length; n += 37) {
      const err = await failure(chunked(whole.subarray(0, n), () => 1));
      expect(err.message).toBe(`unexpected end of NAR at byte ${n}`);
    }
  });

  it('rejects bad magic', async () => {
    expect((await failure(nar('nix-archive-2', '(', 'type', 'directory', ')'))).message).toBe('expected "nix-archive-1" at byte 0');
  });

  it('rejects non-zero padding', async () => {
    const bytes = fixture('complicated.nar').slice();
    bytes[22] = 1; // inside the magic's padding (bytes 21..23)
    expect((await failure(bytes)).message).toBe('non-zero padding at byte 21');
  });

  it('rejects non-zero padding after file contents', async () => {
    const bytes = nar(...HEADER, 'regular', 'contents', u64(1n), new Uint8Array([7, 0, 0, 0, 0, 0, 0, 9]), ')');
    expect((await failure(bytes)).message).toBe('non-zero padding at byte 97');
  });

  it.each([
    ['unsorted', ['b', 'a'], 'entry names not strictly ascending'],
    ['duplicate', ['a', 'a'], 'entry names not strictly ascending'],
    ['uppercase after lowercase (bytewise order)', ['a', 'B'], 'entry names not strictly ascending'],
    ['"."', ['.'], 'invalid entry name: "."'],
    ['".."', ['..'], 'invalid entry name: ".."'],
    ['empty', [''], 'invalid entry name: empty'],
    ['with a slash', ['a/b'], 'invalid entry name: contains "/"'],
    ['with NUL', ['a\0b'], 'invalid entry name: contains NUL'],
    ['256 bytes long', ['x'.repeat(256)], 'entry name length 256 exceeds 255'],
  ])('rejects an entry name that is %s', async (_, names, reason) => {
    expect((await failure(directoryNar(names))).message).toMatch(new RegExp(`^${escapeRegExp(reason)} at byte \\d+$`));
  });

  it('accepts names that are merely unusual', async () => {
    const names = ['...', '.a', 'B', 'a', 'a.b', 'a0', 'x'.repeat(255), '~', 'ü'];
    const events = await snapshot(readNar(chunked(directoryNar(names))));
    expect(events.filter((e) => e.type === 'file').map((e) => e.name)).toEqual(names);
  });

  it('honours a lower name length limit', async () => {
    expect((await failure(directoryNar(['abcd']), { maxNameLength: 3 })).message).toBe('entry name length 4 exceeds 3 at byte 128');
  });

  it('fails fast on a name length of 2^64-1 without reading on', async () => {
    const bytes = nar(...ROOT_DIR, 'entry', '(', 'name', u64(2n ** 64n - 1n));
    expect((await failure(thenNothingMore(bytes))).message).toBe('entry name length 18446744073709551615 exceeds 255 at byte 128');
  });

  it('fails fast on a token length of 2^64-1', async () => {
    expect((await failure(thenNothingMore(u64(2n ** 64n - 1n)))).message).toBe('expected "nix-archive-1" at byte 0');
  });

  it('rejects a file size above 2^53-1 without reading on', async () => {
    const bytes = nar(...HEADER, 'regular', 'contents', u64(2n ** 53n));
    expect((await failure(thenNothingMore(bytes))).message).toBe('file size 9007199254740992 exceeds 9007199254740991 at byte 88');
  });

  it('rejects an unknown node type', async () => {
    expect((await failure(nar(...HEADER, 'fifo', ')'))).message).toBe('expected "regular" or "symlink" or "directory" at byte 56');
  });

  it('rejects an unexpected token inside a directory', async () => {
    expect((await failure(nar(...ROOT_DIR, 'entrx'))).message).toBe('expected "entry" or ")" at byte 80');
  });

  it.each([
    ['empty', '', 'empty symlink target at byte 88'],
    ['with NUL', 'a\0b', 'symlink target contains NUL at byte 88'],
    ['4096 bytes long', 'x'.repeat(4096), 'symlink target length 4096 exceeds 4095 at byte 88'],
  ])('rejects a symlink target that is %s', async (_, target, message) => {
    expect((await failure(nar(...HEADER, 'symlink', 'target', str(target), ')'))).message).toBe(message);
  });

  it('accepts a symlink target of 4095 bytes', async () => {
    const target = 'x'.repeat(4095);
    expect(await snapshot(readNar(chunked(nar(...HEADER, 'symlink', 'target', str(target), ')'))))).toEqual([{ type: 'symlink', name: null, target }]);
  });

  it('rejects 10,000 nested directories at the depth limit', async () => {
    const err = await failure(nestedDirectories(10_000));
    expect(err.message).toMatch(/^directories nested deeper than 1024 at byte \d+$/);
  });

  it('parses 10,000 nested directories without recursion when the limit allows', async () => {
    let depth = 0;
    let deepest = 0;
    for await (const e of readNar(chunked(nestedDirectories(10_000)), { maxDepth: 10_000 })) {
      depth += e.type === 'directory' ? 1 : e.type === 'end' ? -1 : 0;
      deepest = Math.max(deepest, depth);
    }
    expect({ depth, deepest }).toEqual({ depth: 0, deepest: 10_000 });
  });

  it('rejects more entries than the limit', async () => {
    expect((await failure(directoryNar(['a', 'b', 'c']), { maxEntriesPerDirectory: 2 })).message).toMatch(/^more than 2 entries in a directory at byte \d+$/);
  });

  it('rejects trailing bytes after the root node', async () => {
    const bytes = concatBytes([fixture('complicated.nar'), new Uint8Array(8)]);
    expect((await failure(bytes)).message).toBe('trailing bytes after the root node at byte 840');
  });

  it('rejects a file with a missing closing parenthesis', async () => {
    expect((await failure(nar(...HEADER, 'regular', 'contents', str('hi'), 'entry'))).message).toBe('expected ")" at byte 104');
  });
});

/** `depth` directories each holding the next, all named "d". */
function nestedDirectories(depth: number): Uint8Array {
  const open = nar('entry', '(', 'name', 'd', 'node', '(', 'type', 'directory');
  const close = nar(')', ')');
  return concatBytes([nar(...ROOT_DIR), ...Array.from({ length: depth - 1 }, () => open), ...Array.from({ length: depth - 1 }, () => close), nar(')')]);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
