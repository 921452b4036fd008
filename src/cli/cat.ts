// `nar-bridge cat PATH/file`: one file of a store path, straight from its blob.
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { openConfiguredStore, STORE_COMMAND_OPTIONS, STORE_COMMAND_USAGE } from './configured-store.js';
import { resolveStorePath } from './store-path-arg.js';

export const CAT_USAGE = `usage: nar-bridge cat PATH[/sub]

  Writes one regular file of a store path to stdout, read from its blob (symlinks are not followed).
  ${STORE_COMMAND_USAGE}
`;

interface CatIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: Writable;
}

export async function catCommand(args: readonly string[], io: CatIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, strict: true, options: STORE_COMMAND_OPTIONS });
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) throw new NarBridgeError('NB_ERR_CONFIG', 'cat takes exactly one PATH');
  const { store, close } = await openConfiguredStore(values, io.env, { existing: true });
  try {
    const { node } = await resolveStorePath(store, path);
    if (node.kind !== 'file') throw new NarBridgeError('NB_ERR_NOT_FOUND', `${path}: is a ${node.kind}, not a regular file`);
    const contents = await store.blobs.openRead(node.digest);
    if (!contents) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `${path}: blob ${node.digest.toHex()} is missing from the store`);
    await pipeline(Readable.from(contents), io.stdout);
  } finally {
    await close();
  }
  return 0;
}
