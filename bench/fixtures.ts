// Deterministic benchmark fixtures, made with real Nix in a chroot store on tmpfs: one big incompressible file, many
// small files, a copy of a real library tree, and a closure of derivations with references.
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathInfo, removeTree, runNixTool, writePseudoRandomFile, type NixEnv } from '../test/e2e/harness.js';
import { seededRandom } from '../test/nar/nar-bytes.js';
import type { FixtureSizes } from './options.js';

export type FixtureName = 'big' | 'small-files' | 'library' | 'closure';

export interface Fixture {
  readonly name: FixtureName;
  /** The path a client asks for (the top of the closure for `closure`). */
  readonly storePath: string;
  /** Every path in its closure, itself included. */
  readonly closure: readonly string[];
  /** NarSize of `storePath` alone: the bytes one NAR download moves. */
  readonly narSize: number;
  /** Sum of NarSize over the closure: the bytes a `nix copy` moves. */
  readonly closureNarSize: number;
}

export interface FixtureSet {
  /** The chroot store (`--store` argument) holding every fixture. */
  readonly store: string;
  readonly fixtures: readonly Fixture[];
}

/**
 * Library trees present on Debian, first existing wins. Perl's modules: ~1,200 files, ~21 MB, nested dirs, text —
 * a real tree whose shape nobody tuned for.
 */
const LIBRARY_CANDIDATES = ['/usr/share/perl', '/usr/lib/x86_64-linux-gnu/perl', '/usr/share/perl5'];

/** Adding a 1 GiB file hashes and copies it (several seconds); allow for a slow, shared machine. */
const NIX_ADD_TIMEOUT_MS = 600_000;
/** Small-file sizes (bytes), the "1–16 KiB". */
const SMALL_MIN_BYTES = 1024;
const SMALL_MAX_BYTES = 16 * 1024;
/** Every n-th small file is executable and every directory gets a symlink: both take other NAR code paths. */
const EXECUTABLE_EVERY = 8;
/** Leaf directories per parent, so the small-files tree is two levels deep rather than one flat listing. */
const DIRS_PER_PARENT = 32;

export async function makeFixtures(sizes: FixtureSizes, env: NixEnv, workDir: string): Promise<FixtureSet> {
  const store = path.join(workDir, 'fixture-store');
  const src = path.join(workDir, 'fixture-src');
  await mkdir(src, { recursive: true });
  const add = async (p: string) => (await runNixTool('nix-store', ['--store', store, '--add', p], env, { timeoutMs: NIX_ADD_TIMEOUT_MS })).stdout.trim();

  const bigFile = path.join(src, 'big.bin');
  await writePseudoRandomFile(bigFile, sizes.bigMiB * 1024 * 1024, `nar-bridge bench big ${sizes.bigMiB}`);
  const big = await add(bigFile);

  const smallDir = path.join(src, 'small-files');
  await writeSmallFiles(smallDir, sizes.smallFiles, sizes.smallDirs);
  const small = await add(smallDir);

  const library = await add(sizes.libraryDir ?? libraryTree());
  const closureTop = await buildClosure(sizes.closurePaths, store, src, env);
  await removeTree(src); // the store holds copies; tmpfs is memory

  const named: Array<[FixtureName, string]> = [
    ['big', big],
    ['small-files', small],
    ['library', library],
    ['closure', closureTop],
  ];
  const fixtures: Fixture[] = [];
  for (const [name, storePath] of named) fixtures.push(await describe(name, storePath, store, env));
  return { store, fixtures };
}

function libraryTree(): string {
  const found = LIBRARY_CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`no library tree to copy; looked for ${LIBRARY_CANDIDATES.join(', ')}`);
  return found;
}

async function describe(name: FixtureName, storePath: string, store: string, env: NixEnv): Promise<Fixture> {
  const closure = (await runNixTool('nix-store', ['--store', store, '--query', '--requisites', storePath], env)).stdout.trim().split('\n');
  let closureNarSize = 0;
  let narSize = 0;
  for (const p of closure) {
    const info = await pathInfo(p, env, store);
    closureNarSize += info.narSize;
    if (p === storePath) narSize = info.narSize;
  }
  return { name, storePath, closure, narSize, closureNarSize };
}

/**
 * `count` files of 1–16 KiB in `dirs` directories (two levels), every one with a symlink, some executable. Contents
 * are slices of base64 text from a fixed keystream: deterministic, and compressible about as well as source code.
 */
async function writeSmallFiles(root: string, count: number, dirs: number): Promise<void> {
  const key = createHash('sha256').update('nar-bridge bench small files').digest().subarray(0, 16);
  const pool = Buffer.from(
    createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
      .update(Buffer.alloc(768 * 1024))
      .toString('base64'),
  );
  const next = seededRandom(0x5eed); // Math.random has no seed
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, `p${String(Math.floor(d / DIRS_PER_PARENT)).padStart(3, '0')}`, `d${String(d).padStart(4, '0')}`);
    await mkdir(dir, { recursive: true });
    const first = Math.floor((d * count) / dirs);
    const last = Math.floor(((d + 1) * count) / dirs);
    for (let i = first; i < last; i++) {
      const size = SMALL_MIN_BYTES + Math.floor(next() * (SMALL_MAX_BYTES - SMALL_MIN_BYTES + 1));
      const offset = Math.floor(next() * (pool.length - size));
      const executable = i % EXECUTABLE_EVERY === 0;
      const file = path.join(dir, `f${String(i).padStart(5, '0')}${executable ? '.sh' : '.txt'}`);
      await writeFile(file, pool.subarray(offset, offset + size));
      if (executable) await chmod(file, 0o755);
    }
    if (last > first) await symlink(`f${String(first).padStart(5, '0')}${first % EXECUTABLE_EVERY === 0 ? '.sh' : '.txt'}`, path.join(dir, 'link'));
  }
}

/**
 * A chain of input-addressed derivations on top of one builtins.toFile: each output refers to the one below it and to
 * the base (by file content and by symlink), so `paths` store paths form one closure. No nixpkgs needed.
 */
function closureExpression(paths: number): string {
  return `let
  base = builtins.toFile "bench-closure-base.txt" "the bottom of the nar-bridge bench closure\\n";
  step = prev: i: builtins.derivation {
    name = "bench-closure-\${toString i}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir $out && echo \${prev} > $out/prev && echo \${base} > $out/base && /bin/ln -s \${prev} $out/prev-link && /usr/bin/seq 1 \${toString (i * 20000)} > $out/data" ];
  };
in builtins.foldl' step base (builtins.genList (i: i + 1) ${paths - 1})
`;
}

async function buildClosure(paths: number, store: string, src: string, env: NixEnv): Promise<string> {
  const file = path.join(src, 'closure.nix');
  await writeFile(file, closureExpression(paths));
  // Builds for a chroot store run in a chroot: the builder's /bin/sh and coreutils must be mounted in.
  const args = ['--store', store, file, '--no-out-link', '--option', 'extra-sandbox-paths', '/bin /lib /lib64 /usr'];
  return (await runNixTool('nix-build', args, env, { timeoutMs: NIX_ADD_TIMEOUT_MS })).stdout.trim();
}
