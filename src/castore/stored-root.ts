// Whether the objects a root node names are stored: what must hold before a PathInfo may point at them.
import type { CallOptions } from './call-options.js';
import type { Node } from './node.js';
import { NarBridgeError } from '../errors.js';
import type { Castore } from './castore.js';

/**
 * A stored Directory implies its whole graph is stored (putters accept only closed graphs, leaves first),
 * so checking the root object is enough. Throws NB_ERR_MISSING_OBJECT otherwise.
 */
export async function requireStoredRoot(castore: Castore, node: Node, opts?: CallOptions): Promise<void> {
  const present =
    node.kind === 'symlink' ||
    (node.kind === 'file' ? await castore.blobs.has(node.digest, opts) : (await castore.directories.get(node.digest, opts)) !== null);
  if (!present) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `the ${node.kind} the root node names is not stored`);
}
