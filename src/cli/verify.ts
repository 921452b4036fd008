// `nar-bridge verify`: scrubs the embedded store — every pack record re-read and re-hashed in full — and says which
// store paths a damaged or missing object breaks (PathInfo → Directories → blobs). Exit 1 if anything is wrong.
import { parseArgs } from 'node:util';
import { scrubPacks, type B3Digest, type Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import { configuredStoreSettings } from './configured-store.js';
import { openLocalStore } from './open-store.js';
import { formatBytes } from './progress.js';
import { CONFIG_OPTION } from './settings.js';

export const VERIFY_USAGE = `usage: nar-bridge verify [--json] [--data-dir DIR] [--config FILE]

  Re-reads and re-hashes (blake3) every object in the embedded store's packs, checks every chunk list, then walks
  every store path's Directories and blobs. Prints each damaged object and each store path it breaks; exits 1 if
  any. Progress goes to stderr; --json prints a summary on stdout.
`;

export interface VerifyIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A progress line at most this often: a scrub of a large store takes minutes. */
const PROGRESS_EVERY_MS = 2000;

export async function verifyCommand(args: readonly string[], io: VerifyIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: { json: { type: 'boolean' }, 'data-dir': { type: 'string' }, ...CONFIG_OPTION } });
  const { dataDir } = configuredStoreSettings(values, io.env);
  const local = await openLocalStore(dataDir);
  try {
    if (!local.packs) throw new NarBridgeError('NB_ERR_CONFIG', 'verify checks the embedded blob store');
    const started = Date.now();
    let shown = started;
    const corrupt = new Map<string, string>();
    let scanned = { records: 0, bytes: 0 };
    for await (const object of scrubPacks(local.packs, (p) => {
      scanned = p;
      if (Date.now() - shown < PROGRESS_EVERY_MS) return;
      shown = Date.now();
      io.stderr(`verify: ${p.records} objects, ${formatBytes(p.bytes)} checked\n`);
    })) {
      const line = `damaged: blob ${object.digest.toHex()} (${object.where}): ${object.why}`;
      corrupt.set(object.digest.toHex(), line);
      io.stdout(`${line}\n`);
    }
    const broken: string[] = [];
    let paths = 0;
    for await (const info of local.store.pathInfos.list()) {
      paths++;
      const problem = await problemOf(local.store, info.node, corrupt);
      if (problem === null) continue;
      broken.push(info.storePath.toAbsolute());
      io.stdout(`broken: ${info.storePath.toAbsolute()}: ${problem}\n`);
    }
    const seconds = (Date.now() - started) / 1000;
    io.stderr(
      `verify: ${scanned.records} objects (${formatBytes(scanned.bytes)}) and ${paths} store paths in ${seconds.toFixed(1)} s: ${corrupt.size} damaged objects, ${broken.length} broken paths\n`,
    );
    if (values.json) io.stdout(`${JSON.stringify({ objects: scanned.records, bytes: scanned.bytes, paths, damaged: [...corrupt.keys()], broken })}\n`);
    return corrupt.size > 0 || broken.length > 0 ? 1 : 0;
  } finally {
    await local.close();
  }
}

/** Why the tree under `root` cannot be served as stored, or null if every object it needs is present and intact. */
async function problemOf(store: Store, root: Node, corrupt: ReadonlyMap<string, string>): Promise<string | null> {
  const files: Array<{ digest: B3Digest }> = [];
  if (root.kind === 'file') files.push(root);
  if (root.kind === 'directory') {
    try {
      for await (const directory of store.directories.getRecursive(root.digest)) {
        for (const { node } of directory.entries) if (node.kind === 'file') files.push(node);
      }
    } catch (err) {
      return `its directories cannot be read (${err instanceof Error ? err.message : String(err)})`;
    }
  }
  for (const { digest } of files) {
    if (corrupt.has(digest.toHex())) return `blob ${digest.toHex()} is damaged`;
    if (!(await store.blobs.has(digest))) return `blob ${digest.toHex()} is missing`;
  }
  return null;
}
