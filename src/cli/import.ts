// `nar-bridge import [-r] PATH…`: seeds the store straight from the local /nix/store, without HTTP. Metadata
// (references, signatures, deriver, CA, NarHash) comes from the local Nix database via `nix path-info --json`;
// contents from `nix-store --dump`, ingested while it streams and checked against that NarHash.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { NixHash, parseContentAddress, Signature, StorePath } from '../nix/index.js';
import { ingestNar, type PathInfo, type Store } from '../store/index.js';
import { openLocalStore } from './open-store.js';
import { defaultDataDir } from './settings.js';

export const IMPORT_USAGE = `usage: nar-bridge import [-r|--recursive] [--json] [--data-dir DIR] PATH…

  Ingests local store paths (with -r, their closures) into the embedded store; paths already there are skipped.
  Progress goes to stderr; --json prints a summary on stdout.
`;

/** One element of `nix path-info --json` (Nix 2.8). */
interface LocalPathInfo {
  readonly path: string;
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly deriver?: string;
  readonly ca?: string;
  readonly signatures?: readonly string[];
}

export interface ImportIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
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
      'data-dir': { type: 'string' },
    },
  });
  if (positionals.length === 0) throw new NarBridgeError('NB_ERR_CONFIG', 'import needs at least one store path');
  const listing = await run('nix', [...NIX_FLAGS, 'path-info', '--json', ...(values.recursive ? ['-r'] : []), ...positionals], io.env);
  const infos = JSON.parse(listing) as LocalPathInfo[];
  const local = await openLocalStore(values['data-dir'] ?? io.env.NAR_BRIDGE_DATA_DIR ?? defaultDataDir(io.env));
  const imported: string[] = [];
  const skipped: string[] = [];
  let narBytes = 0;
  const started = Date.now();
  try {
    for (const [i, local_] of infos.entries()) {
      const storePath = StorePath.parseAbsolute(local_.path);
      const progress = `[${i + 1}/${infos.length}]`;
      if (await local.store.pathInfos.get(storePath.digest)) {
        skipped.push(local_.path);
        io.stderr(`${progress} ${local_.path} already present\n`);
        continue;
      }
      io.stderr(`${progress} ${local_.path} (${formatBytes(local_.narSize)})\n`);
      await importPath(local.store, local_, storePath, io.env);
      imported.push(local_.path);
      narBytes += local_.narSize;
    }
  } finally {
    local.close();
  }
  const seconds = (Date.now() - started) / 1000;
  io.stderr(`imported ${imported.length} paths (${formatBytes(narBytes)} of NAR) in ${seconds.toFixed(1)} s, ${skipped.length} already present\n`);
  if (values.json) io.stdout(`${JSON.stringify({ imported, skipped, narBytes, seconds })}\n`);
  return 0;
}

async function importPath(store: Store, info: LocalPathInfo, storePath: StorePath, env: NodeJS.ProcessEnv): Promise<void> {
  const dump = spawn('nix-store', ['--dump', info.path], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(dump, 'close') as Promise<[number | null]>;
  const stderr: Buffer[] = [];
  dump.stderr.on('data', (b: Buffer) => stderr.push(b));
  const ingested = await ingestNar(dump.stdout, store);
  const [code] = await exited;
  if (code !== 0) throw new NarBridgeError('NB_ERR_UPSTREAM', `nix-store --dump ${info.path} failed: ${Buffer.concat(stderr).toString().trim()}`);
  const narHash = NixHash.parse(info.narHash);
  if (!ingested.narHash.equals(narHash) || ingested.narSize !== info.narSize) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.path}: NAR does not match the local database's NarHash/NarSize`);
  }
  const pathInfo: PathInfo = {
    storePath,
    node: ingested.node,
    references: info.references.map((r) => StorePath.parseAbsolute(r)),
    narHash,
    narSize: info.narSize,
    signatures: (info.signatures ?? []).map((s) => Signature.parse(s)),
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

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
