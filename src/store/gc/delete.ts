// Deleting store paths on request (`nar-bridge delete`, DELETE /<hash>.narinfo) and pinning them. A deletion only
// removes PathInfos (with their access times, the upload records they claimed and the build logs of their
// derivers); the objects they held go at the next GC, like any other unreachable object.
import { NarBridgeError } from '../../errors.js';
import { planDeletion, PathGraph } from './path-graph.js';
import type { GcTarget } from './collect.js';
import { pathKey } from './tables.js';

/** How long a deletion waits for pushes in flight (which may be adding a referrer) before giving up. */
const DELETE_FENCE_TIMEOUT_MS = 10_000;

/**
 * Deletes the PathInfos of `digests` (20-byte store path digests); refused (NB_ERR_CONFLICT) while a kept path
 * refers to one of them unless `recursive`, and for anything a pin keeps. Returns the basenames deleted. Runs with
 * pushes held off, so no push adds a referrer between the check and the deletion.
 */
export async function deleteStorePaths(
  target: Pick<GcTarget, 'tables' | 'pathInfos' | 'fence' | 'forgetPaths'>,
  digests: readonly Uint8Array[],
  recursive: boolean,
): Promise<string[]> {
  const done = await target.fence.exclusive(async () => {
    const graph = await PathGraph.load(target.pathInfos);
    const doomed = [...planDeletion(graph, digests.map(pathKey), target.tables.pins().keys(), recursive)];
    const derivers = new Set<string>();
    const keptDerivers = new Set<string>();
    for (const [key, info] of graph.paths) if (info.deriver) (doomed.includes(key) ? derivers : keptDerivers).add(info.deriver.basename);
    const { tables } = target;
    tables.db
      .transaction(() => {
        tables.deletePaths(doomed);
        tables.deleteBuildLogs([...derivers].filter((d) => !keptDerivers.has(d)));
        tables.deleteUploadsClaimedBy(doomed);
      })
      .immediate();
    target.forgetPaths?.(doomed.map((key) => Buffer.from(key, 'hex')));
    return doomed.map((key) => graph.basename(key));
  }, DELETE_FENCE_TIMEOUT_MS);
  if (!done) throw new NarBridgeError('NB_ERR_TIMEOUT', 'pushes in flight did not finish in time; try again');
  return done.value;
}
