// The castore model types: digests, names, symlink targets and the Directory builder's rules.
import { describe, expect, it } from 'vitest';
import { B3Digest, Blake3Hasher, Directory, DirectoryBuilder, PathComponent, SymlinkTarget, blake3, type Node } from '../../src/castore/index.js';
import { NarBridgeError, type ErrorCode } from '../../src/errors.js';

const EMPTY_BLAKE3 = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

function expectCode(fn: () => unknown, code: ErrorCode): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(NarBridgeError);
  expect(NarBridgeError.is(thrown) && thrown.code).toBe(code);
}

const file = (size = 0, executable = false): Node => ({ kind: 'file', digest: blake3(new Uint8Array(size)), size, executable });

describe('B3Digest', () => {
  it('hashes the empty input to the known blake3 value', () => {
    expect(blake3(new Uint8Array()).toHex()).toBe(EMPTY_BLAKE3);
  });

  it('hashes incrementally to the same digest as in one go', () => {
    const data = new Uint8Array(100_000).map((_, i) => i % 251);
    const hasher = new Blake3Hasher().update(data.subarray(0, 1)).update(data.subarray(1, 70_000)).update(data.subarray(70_000));
    expect(hasher.digest().equals(blake3(data))).toBe(true);
  });

  it('round-trips through hex and compares by value', () => {
    const d = B3Digest.fromHex(EMPTY_BLAKE3.toUpperCase());
    expect(d.toString()).toBe(EMPTY_BLAKE3);
    expect(d.equals(B3Digest.parse(d.bytes))).toBe(true);
    expect(d.equals(blake3(bytes('x')))).toBe(false);
  });

  it('owns a copy of its bytes', () => {
    const raw = new Uint8Array(32);
    const d = B3Digest.parse(raw);
    raw[0] = 1;
    expect(d.bytes[0]).toBe(0);
  });

  it.each([0, 31, 33, 64])('rejects %i bytes', (n) => expectCode(() => B3Digest.parse(new Uint8Array(n)), 'NB_ERR_INVALID_DIGEST'));

  it.each(['', 'af13', `${EMPTY_BLAKE3}00`, `g${EMPTY_BLAKE3.slice(1)}`])('rejects hex %j', (hex) =>
    expectCode(() => B3Digest.fromHex(hex), 'NB_ERR_INVALID_DIGEST'),
  );
});

describe('PathComponent', () => {
  it.each(['a', '.keep', '...', 'a b', 'ü', 'x'.repeat(255)])('accepts %j', (name) => {
    expect(PathComponent.fromString(name).toString()).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['slash', 'a/b'],
    ['NUL', 'a\0b'],
    ['256 bytes', 'x'.repeat(256)],
  ])('rejects %s', (_, name) => expectCode(() => PathComponent.fromString(name), 'NB_ERR_INVALID_NAME'));

  it('orders bytewise, not by UTF-16 code units or locale', () => {
    const names = ['b', 'B', 'a', '\u{1F600}', '\uFFFD', 'aa'].map((n) => PathComponent.fromString(n));
    expect(names.sort(PathComponent.compare).map(String)).toEqual(['B', 'a', 'aa', 'b', '\uFFFD', '\u{1F600}']);
  });
});

describe('SymlinkTarget', () => {
  it('accepts absolute, relative and 4095-byte targets', () => {
    for (const t of ['/nix/store/somewhereelse', '../x', 'y'.repeat(4095)]) expect(SymlinkTarget.fromString(t).toString()).toBe(t);
  });

  it.each([
    ['empty', ''],
    ['NUL', 'a\0'],
    ['4096 bytes', 'y'.repeat(4096)],
  ])('rejects %s', (_, t) => expectCode(() => SymlinkTarget.fromString(t), 'NB_ERR_INVALID_NODE'));
});

describe('DirectoryBuilder', () => {
  it('builds the empty directory as Directory.EMPTY', () => {
    const d = new DirectoryBuilder().build();
    expect(d).toBe(Directory.EMPTY);
    expect(d.size).toBe(0);
    expect(d.digest().toHex()).toBe(EMPTY_BLAKE3);
  });

  it('counts entries plus the sizes of child directories', () => {
    const child: Node = { kind: 'directory', digest: blake3(bytes('c')), size: 5 };
    const d = new DirectoryBuilder()
      .add(PathComponent.fromString('a'), child)
      .add(PathComponent.fromString('b'), file())
      .add(PathComponent.fromString('c'), { kind: 'symlink', target: SymlinkTarget.fromString('a') })
      .build();
    expect(d.size).toBe(3 + 5);
    expect(d.entries.map((e) => e.name.toString())).toEqual(['a', 'b', 'c']);
  });

  it('rejects names out of order', () => {
    const b = new DirectoryBuilder().add(PathComponent.fromString('b'), file());
    expectCode(() => b.add(PathComponent.fromString('a'), file()), 'NB_ERR_INVALID_NAME');
  });

  it('rejects a duplicate name even across node kinds', () => {
    const b = new DirectoryBuilder().add(PathComponent.fromString('x'), file());
    expectCode(() => b.add(PathComponent.fromString('x'), { kind: 'symlink', target: SymlinkTarget.fromString('t') }), 'NB_ERR_INVALID_NAME');
  });

  it('rejects a size that would overflow', () => {
    const huge: Node = { kind: 'directory', digest: blake3(bytes('h')), size: Number.MAX_SAFE_INTEGER };
    const b = new DirectoryBuilder().add(PathComponent.fromString('a'), file());
    expectCode(() => b.add(PathComponent.fromString('b'), huge), 'NB_ERR_TOO_LARGE');
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('rejects node size %d', (size) =>
    expectCode(
      () => new DirectoryBuilder().add(PathComponent.fromString('a'), { kind: 'file', digest: blake3(new Uint8Array()), size, executable: false }),
      'NB_ERR_INVALID_NODE',
    ),
  );

  it('freezes its entries', () => {
    const d = new DirectoryBuilder().add(PathComponent.fromString('a'), file()).build();
    expect(Object.isFrozen(d.entries)).toBe(true);
  });
});
