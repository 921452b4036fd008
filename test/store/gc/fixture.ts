// A data dir with paths ingested from generated NARs, for the GC tests: each path a directory of files, some
// contents shared between paths, references as given.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore, type OpenStore } from '../../../src/cli/open-store.js';
import { verifyCommand } from '../../../src/cli/verify.js';
import { StorePath } from '../../../src/nix/index.js';
import { ingestNar } from '../../../src/store/index.js';
import { fileEntry, nar } from '../../nar/nar-bytes.js';

export function storePath(name: string): StorePath {
  return StorePath.fromParts(createHash('sha256').update(name).digest().subarray(0, 20), name);
}

export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** A NAR of a directory holding `files` (name → contents), names sorted. */
export function treeNar(files: Record<string, Uint8Array | string>): Uint8Array {
  const names = Object.keys(files).sort();
  return nar('nix-archive-1', '(', 'type', 'directory', ...names.map((n) => fileEntry(n, files[n] as never)), ')');
}

export async function addPath(
  local: OpenStore,
  name: string,
  files: Record<string, Uint8Array | string>,
  references: readonly string[] = [],
): Promise<StorePath> {
  const path = storePath(name);
  const { node, narHash, narSize } = await ingestNar(once(treeNar(files)), local.store);
  await local.store.pathInfos.put({ storePath: path, node, narHash, narSize, references: references.map(storePath), signatures: [] });
  return path;
}

export async function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'nar-bridge-gc-'));
}

export async function packBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(join(dataDir, 'packs'))) total += (await stat(join(dataDir, 'packs', name))).size;
  return total;
}

/** `nar-bridge verify` on the data dir (no store open): every path renders to its NarHash, nothing damaged. */
export async function verifyDir(dataDir: string): Promise<{ code: number; stdout: string; paths: number }> {
  let stdout = '';
  let stderr = '';
  const code = await verifyCommand(['--data-dir', dataDir, '--json'], { env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { paths?: number };
  return { code, stdout, paths: summary.paths ?? -1 };
}

export function random(bytes: number): Buffer {
  return randomBytes(bytes);
}

export { openLocalStore };
