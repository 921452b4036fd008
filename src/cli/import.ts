// `nar-bridge import [-r] PATH…`: seeds the store straight from the local /nix/store, without HTTP. Metadata
// (references, signatures, deriver, CA, NarHash) comes from the local Nix database via `nix path-info --json`;
// contents from `nix-store --dump`, ingested while it streams and checked against that NarHash.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { NixHash, parseContentAddress, Signature, STORE_DIR, StorePath } from '../nix/index.js';
import { ingestNar, type PathInfo, type Store } from '../store/index.js';
import { openConfiguredStore, STORE_COMMAND_OPTIONS, STORE_COMMAND_USAGE } from './configured-store.js';
import { parsePathInfoJson, type LocalPathInfo } from './local-path-info.js';
import { formatBytes, Progress, type ProgressOutput } from './progress.js';

export const IMPORT_USAGE = `usage: nar-bridge import [-r|--recursive] [--json] [--data-dir DIR] PATH…

  Ingests local store paths (with -r, their closures) into the store; paths already there are skipped.
  References are written before the paths that name them, so an interrupted import -r leaves only whole closures.
  Progress goes to stderr (a bar on a terminal); --json prints a summary on stdout.
  ${STORE_COMMAND_USAGE}
`;

interface ImportIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  readonly stderr: ProgressOutput;
}

const NIX_FLAGS = ['--extra-experimental-features', 'nix-command'];

export async function importCommand(args: readonly string[], io: ImportIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      recursive: { type: 'boolean', short: 'r' },
      json: { type: 'boolean' },
      ...STORE_COMMAND_OPTIONS,
    },
  });
  if (positionals.length === 0) throw new NarBridgeError('NB_ERR_CONFIG', 'import needs at least one store path');
  for (const path of positionals) await requireStorePath(path);
  const listing = await run('nix', [...NIX_FLAGS, 'path-info', '--json', ...(values.recursive ? ['-r'] : []), ...positionals], io.env);
  const infos = referencesFirst(parsePathInfoJson(listing));
  const { store, close } = await openConfiguredStore(values, io.env);
  const imported: string[] = [];
  const skipped: string[] = [];
  let narBytes = 0;
  const started = Date.now();
  try {
    const missing: LocalPathInfo[] = [];
    for (const info of infos) {
      if (await store.pathInfos.get(StorePath.parseAbsolute(info.path).digest)) skipped.push(info.path);
      else missing.push(info);
    }
    const progress = new Progress(
      io.stderr,
      missing.reduce((sum, info) => sum + info.narSize, 0),
    );
    if (skipped.length > 0) progress.note(`${skipped.length} of ${infos.length} paths already present`);
    try {
      for (const [i, info] of missing.entries()) {
        progress.note(`[${i + 1}/${missing.length}] ${info.path} (${formatBytes(info.narSize)})`);
        await importPath(store, info, io.env, progress);
        imported.push(info.path);
        narBytes += info.narSize;
      }
    } finally {
      progress.finish();
    }
  } finally {
    await close();
  }
  const seconds = (Date.now() - started) / 1000;
  io.stderr.write(`imported ${imported.length} paths (${formatBytes(narBytes)} of NAR) in ${seconds.toFixed(1)} s, ${skipped.length} already present\n`);
  if (values.json) io.stdout(`${JSON.stringify({ imported, skipped, narBytes, seconds })}\n`);
  return 0;
}

/**
 * Checked here because Nix reads anything else as a flake reference and answers with a flake error. A symlink to a
 * store path (`./result`) is accepted, as Nix accepts it.
 */
async function requireStorePath(path: string): Promise<void> {
  const isStorePath = (absolute: string) => {
    try {
      StorePath.parseAbsolute(absolute);
      return true;
    } catch {
      return false;
    }
  };
  if (isStorePath(resolve(path)) || isStorePath(await realpath(path).catch(() => ''))) return;
  throw new NarBridgeError('NB_ERR_CONFIG', `import: ${path} is not a store path (${STORE_DIR}/<hash>-<name>)`);
}

/**
 * `infos` reordered so every path comes after the paths it references (those in the list; a self-reference
 * does not count). Nix lists them by name, which would let an interrupted import expose a path whose
 * references were never written. Ties keep Nix's order.
 */
export function referencesFirst<T extends { readonly path: string; readonly references: readonly string[] }>(infos: readonly T[]): T[] {
  const byPath = new Map(infos.map((info) => [info.path, info]));
  const ordered: T[] = [];
  const visited = new Set<string>();
  // Iterative depth-first post-order: a closure can be deep enough to overflow the stack when recursing.
  for (const start of infos) {
    const stack: Array<{ info: T; next: number }> = [];
    const enter = (info: T) => {
      visited.add(info.path);
      stack.push({ info, next: 0 });
    };
    if (!visited.has(start.path)) enter(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (!top) break;
      const reference = top.info.references[top.next++];
      if (reference === undefined) {
        ordered.push(top.info);
        stack.pop();
        continue;
      }
      const child = byPath.get(reference);
      if (child && !visited.has(child.path)) enter(child);
    }
  }
  return ordered;
}

async function importPath(store: Store, info: LocalPathInfo, env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  const dump = spawn('nix-store', ['--dump', info.path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(dump, 'close') as Promise<[number | null]>;
  const stderr: Buffer[] = [];
  dump.stderr.on('data', (b: Buffer) => stderr.push(b));
  const ingested = await ingestNar(progress.count(dump.stdout), store);
  const [code] = await exited;
  if (code !== 0) throw new NarBridgeError('NB_ERR_UPSTREAM', `nix-store --dump ${info.path} failed: ${Buffer.concat(stderr).toString().trim()}`);
  const narHash = NixHash.parse(info.narHash);
  if (!ingested.narHash.equals(narHash) || ingested.narSize !== info.narSize) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.path}: NAR does not match the local database's NarHash/NarSize`);
  }
  const pathInfo: PathInfo = {
    storePath: StorePath.parseAbsolute(info.path),
    node: ingested.node,
    references: info.references.map((r) => StorePath.parseAbsolute(r)),
    narHash,
    narSize: info.narSize,
    signatures: info.signatures.map((s) => Signature.parse(s)),
    ...(info.deriver ? { deriver: StorePath.parseAbsolute(info.deriver) } : {}),
    ...(info.ca ? { ca: parseContentAddress(info.ca) } : {}),
  };
  await store.pathInfos.put(pathInfo);
}

async function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'close') as Promise<[number | null]>;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const [code] = await exited;
  if (code !== 0) throw new NarBridgeError('NB_ERR_CONFIG', `${cmd} ${args.join(' ')} failed: ${Buffer.concat(err).toString().trim()}`);
  return Buffer.concat(out).toString('utf8');
}
