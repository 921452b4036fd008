// Random file trees for the NAR round-trip property: symlinks, executables, empty files and directories, and
// names that are legal but unusual (spaces, unicode, invalid UTF-8, leading dashes, '~', bytewise-tricky order).
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import type { Prng } from './prng.js';

export type RandomNode =
  | { readonly kind: 'file'; readonly contents: Buffer; readonly executable: boolean }
  | { readonly kind: 'symlink'; readonly target: Buffer }
  | { readonly kind: 'directory'; readonly entries: ReadonlyMap<string, { readonly name: Buffer; readonly node: RandomNode }> };

/**
 * Names chosen to catch sorting and escaping bugs: uppercase before lowercase, '-' '.' '0' '_' '~' around 'a',
 * multi-byte UTF-8 (sorting after every ASCII byte) and invalid UTF-8, which a string-based sort would reorder.
 */
const TRICKY_NAMES: readonly Buffer[] = [
  'a',
  'A',
  'b',
  'B',
  'Z',
  'z',
  'a b',
  ' lead',
  'trail ',
  '-rf',
  '--',
  '-',
  '~',
  '~a',
  'a~',
  '.hidden',
  '..a',
  'a..',
  '...',
  'a-',
  'a.',
  'a0',
  'a_',
  'ab',
  'aB',
  'é',
  'e\u0301',
  '日本語',
  '😀',
  'a\tb',
  'a\nb',
  '\\',
  'a:b',
  '*',
  '?',
  '"',
  "'",
  '$HOME',
  'a'.repeat(255),
]
  .map((name) => Buffer.from(name, 'utf8'))
  .concat([Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0x80, 0x61]), Buffer.from([0x7f])]);

const SYMLINK_TARGETS: readonly string[] = ['a', '../a b', '/nix/store/nonexistent', '.', '..', '-', '~', 'é/日本語', 'dangling/../x', ' '];

function randomName(rng: Prng): Buffer {
  if (rng.chance(0.6)) return rng.pick(TRICKY_NAMES);
  for (;;) {
    // Any byte but NUL and '/', which are the only ones a file name cannot hold.
    const name = Buffer.from(
      Array.from({ length: rng.between(1, 12) }, () => {
        const byte = rng.between(1, 255);
        return byte === 0x2f ? 0x5f : byte;
      }),
    );
    const text = name.toString('latin1');
    if (text !== '.' && text !== '..') return name;
  }
}

/** Sizes around the 8-byte NAR padding, empty files, and the odd larger one. */
function randomContents(rng: Prng): Buffer {
  const size = rng.pick([
    0,
    0,
    rng.between(1, 17),
    rng.between(1, 17),
    rng.between(0, 3) * 8,
    rng.between(18, 2000),
    rng.chance(0.1) ? rng.between(40_000, 80_000) : 7,
  ]);
  return rng.bytes(size);
}

export function randomNode(rng: Prng, depth = 0): RandomNode {
  const roll = rng.next();
  if (depth < 4 && roll < (depth === 0 ? 0.8 : 0.35)) {
    const entries = new Map<string, { name: Buffer; node: RandomNode }>();
    const count = rng.pick([0, rng.between(1, 3), rng.between(1, 7)]);
    for (let i = 0; i < count; i++) {
      const name = randomName(rng);
      entries.set(name.toString('hex'), { name, node: randomNode(rng, depth + 1) });
    }
    return { kind: 'directory', entries };
  }
  if (roll > 0.88) {
    const target = rng.chance(0.8) ? Buffer.from(rng.pick(SYMLINK_TARGETS)) : randomName(rng);
    return { kind: 'symlink', target };
  }
  return { kind: 'file', contents: randomContents(rng), executable: rng.chance(0.3) };
}

/** Writes `node` at `path` (Buffer paths, so names that are not UTF-8 arrive byte for byte). */
export async function writeRandomNode(path: Buffer, node: RandomNode): Promise<void> {
  switch (node.kind) {
    case 'file':
      await writeFile(path, node.contents);
      await chmod(path, node.executable ? 0o755 : 0o644);
      return;
    case 'symlink':
      await symlink(node.target, path);
      return;
    case 'directory':
      await mkdir(path);
      for (const { name, node: child } of node.entries.values()) await writeRandomNode(Buffer.concat([path, Buffer.from('/'), name]), child);
  }
}
