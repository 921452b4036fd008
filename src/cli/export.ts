// `nar-bridge export PATH [-o FILE]`: the NAR of a store path (or of a file or directory inside one), rendered from
// the store exactly as the server serves it; the same bytes `nix-store --dump` writes for the original.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { planNar } from '../store/index.js';
import { openConfiguredStore, STORE_COMMAND_OPTIONS, STORE_COMMAND_USAGE } from './configured-store.js';
import { Progress, type ProgressOutput } from './progress.js';
import { resolveStorePath } from './store-path-arg.js';

export const EXPORT_USAGE = `usage: nar-bridge export [-o FILE] PATH

  Writes the NAR of PATH (/nix/store/<hash>-<name>[/sub], <hash>-<name>[/sub] or <hash>[/sub]) to FILE, or to
  stdout. Progress goes to stderr (a bar on a terminal).
  ${STORE_COMMAND_USAGE}
`;

interface ExportIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: Writable;
  readonly stderr: ProgressOutput;
}

export async function exportCommand(args: readonly string[], io: ExportIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { output: { type: 'string', short: 'o' }, ...STORE_COMMAND_OPTIONS },
  });
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) throw new NarBridgeError('NB_ERR_CONFIG', 'export takes exactly one PATH');
  const { store, close } = await openConfiguredStore(values, io.env, { existing: true });
  try {
    const { node } = await resolveStorePath(store, path);
    const plan = await planNar(node, store);
    const progress = new Progress(io.stderr, plan.narSize);
    const nar = Readable.from(progress.count(plan.stream()));
    try {
      if (values.output === undefined) {
        await pipeline(nar, io.stdout);
      } else {
        await writeFile(values.output, nar);
      }
    } finally {
      progress.finish();
    }
  } finally {
    await close();
  }
  return 0;
}

/** A render that fails midway (a missing blob) leaves no truncated NAR behind. */
async function writeFile(file: string, nar: Readable): Promise<void> {
  try {
    await pipeline(nar, createWriteStream(file));
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}
