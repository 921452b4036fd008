// `nar-bridge ls PATH[/sub] [-l] [-R] [--json]`: a store path's tree from the Directory graph, printed as
// `nix store ls` prints it (same columns, `./` names, JSON shape), so the two can be compared line for line.
import { parseArgs } from 'node:util';
import type { DirectoryService, Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { openConfiguredStore, STORE_COMMAND_OPTIONS, STORE_COMMAND_USAGE } from './configured-store.js';
import { resolveStorePath } from './store-path-arg.js';

export const LS_USAGE = `usage: nar-bridge ls [-l|--long] [-R|--recursive] [--json] PATH[/sub]

  Lists a directory of a store path (or shows a file) from the Directory graph, like nix store ls.
  ${STORE_COMMAND_USAGE}
`;

interface LsIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
}

interface Listing {
  readonly long: boolean;
  readonly recursive: boolean;
  readonly directories: DirectoryService;
  readonly out: (line: string) => void;
}

const utf8 = new TextDecoder();

export async function lsCommand(args: readonly string[], io: LsIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      long: { type: 'boolean', short: 'l' },
      recursive: { type: 'boolean', short: 'R' },
      json: { type: 'boolean' },
      ...STORE_COMMAND_OPTIONS,
    },
  });
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) throw new NarBridgeError('NB_ERR_CONFIG', 'ls takes exactly one PATH');
  const { store, close } = await openConfiguredStore(values, io.env, { existing: true });
  try {
    const { info, node, sub } = await resolveStorePath(store, path);
    const recursive = values.recursive ?? false;
    if (values.json) {
      io.stdout(`${await jsonNode(node, store.directories, recursive)}\n`);
      return 0;
    }
    const lines: string[] = [];
    const listing: Listing = { long: values.long ?? false, recursive, directories: store.directories, out: (line) => lines.push(line) };
    // Nix names a listed directory's entries `./name`, and a file by its own name.
    if (node.kind === 'directory') await listEntries(node, '.', listing);
    else
      await show(
        node,
        sub === ''
          ? info.storePath.basename
          : (sub
              .split('/')
              .filter((p) => p !== '')
              .pop() ?? ''),
        listing,
      );
    io.stdout(lines.map((line) => `${line}\n`).join(''));
  } finally {
    await close();
  }
  return 0;
}

async function listEntries(node: Node & { kind: 'directory' }, relPath: string, listing: Listing): Promise<void> {
  for (const entry of (await listing.directories.get(node.digest))?.entries ?? []) {
    await show(entry.node, `${relPath}/${utf8.decode(entry.name.bytes)}`, listing);
  }
}

/** One line for `node` (nix/ls.cc `showFile`), then its entries when listing recursively. */
async function show(node: Node, relPath: string, listing: Listing): Promise<void> {
  if (listing.long) {
    const [mode, size, suffix] =
      node.kind === 'file'
        ? [node.executable ? '-r-xr-xr-x' : '-r--r--r--', node.size, '']
        : node.kind === 'symlink'
          ? ['lrwxrwxrwx', 0, ` -> ${utf8.decode(node.target.bytes)}`]
          : ['dr-xr-xr-x', 0, ''];
    listing.out(`${mode} ${String(size).padStart(20)} ${relPath}${suffix}`);
  } else {
    listing.out(relPath);
  }
  if (listing.recursive && node.kind === 'directory') await listEntries(node, relPath, listing);
}

/** Nix's `listNar` JSON without narOffset (as `nix store ls --json` on a local path): entries `{}` unless recursive. */
async function jsonNode(node: Node, directories: DirectoryService, recursive: boolean): Promise<string> {
  switch (node.kind) {
    case 'file':
      return `{"type":"regular","size":${node.size}${node.executable ? ',"executable":true' : ''}}`;
    case 'symlink':
      return `{"type":"symlink","target":${JSON.stringify(utf8.decode(node.target.bytes))}}`;
    case 'directory': {
      // Written as text: an object would move entries named like integers ("1") to the front.
      const entries: string[] = [];
      for (const entry of (await directories.get(node.digest))?.entries ?? []) {
        const child = recursive ? await jsonNode(entry.node, directories, true) : '{}';
        entries.push(`${JSON.stringify(utf8.decode(entry.name.bytes))}:${child}`);
      }
      return `{"type":"directory","entries":{${entries.join(',')}}}`;
    }
  }
}
