// PATH as export, ls and cat take it: `/nix/store/<hash>-<name>[/sub]`, `<hash>-<name>[/sub]` or `<hash>[/sub]`.
import { nodeAt, type Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { parseStorePathHashPart, STORE_DIR } from '../nix/index.js';
import type { PathInfo, Store } from '../store/index.js';

interface ResolvedPath {
  readonly info: PathInfo;
  /** The node at `sub` below the store path's root. */
  readonly node: Node;
  /** What followed the store path's basename, without leading slashes; '' for the root. */
  readonly sub: string;
}

const HASH_PART_LENGTH = 32;

/** Throws NB_ERR_NOT_FOUND (one line naming `arg`) when the store has no such path or file. */
export async function resolveStorePath(store: Store, arg: string): Promise<ResolvedPath> {
  const notFound = (what: string, cause?: unknown) => new NarBridgeError('NB_ERR_NOT_FOUND', `${arg}: ${what}`, { cause });
  const relative = arg.startsWith(`${STORE_DIR}/`) ? arg.slice(STORE_DIR.length + 1) : arg;
  const slash = relative.indexOf('/');
  const first = slash < 0 ? relative : relative.slice(0, slash);
  const sub = slash < 0 ? '' : relative.slice(slash + 1).replace(/^\/+/, '');
  if (first.length > HASH_PART_LENGTH && first[HASH_PART_LENGTH] !== '-') throw notFound('not a store path, basename or hash part');
  const digest = await orNotFound(() => parseStorePathHashPart(first.slice(0, HASH_PART_LENGTH)), notFound);
  const info = await store.pathInfos.get(digest);
  // A basename must match in full: the hash alone would silently accept a mistyped name.
  if (!info || (first.length > HASH_PART_LENGTH && first !== info.storePath.basename)) throw notFound('no such store path in this store');
  const node = await orNotFound(() => nodeAt(store.directories, info.node, sub), notFound);
  if (!node) throw notFound(`no such file in ${info.storePath.toAbsolute()}`);
  return { info, node, sub };
}

/** `parse()`, with a malformed hash or name (NB_ERR_INVALID_*) reported as the path not existing. */
async function orNotFound<T>(parse: () => T | Promise<T>, notFound: (what: string, cause: unknown) => Error): Promise<T> {
  try {
    return await parse();
  } catch (err) {
    if (NarBridgeError.is(err) && err.code.startsWith('NB_ERR_INVALID_')) throw notFound(err.message, err);
    throw err;
  }
}
