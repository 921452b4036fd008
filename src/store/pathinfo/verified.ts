// VerifiedPathInfo: a PathInfo whose NarHash and NarSize we computed ourselves from the contents it names. Only
// the functions here make one, so a write that skips rendering says in its type why it may.
import { sameNode, type CallOptions, type Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import type { NixHash } from '../../nix/index.js';
import type { NarCalculator } from '../nar/calculator.js';
import type { PathInfo } from '../path-info.js';

declare const VERIFIED: unique symbol;
export type VerifiedPathInfo = PathInfo & { readonly [VERIFIED]: true };

/** What ingesting a NAR told us about it (an ingest result, or an upload record of one). */
interface IngestedNar {
  readonly node: Node;
  readonly narHash: NixHash;
  readonly narSize: number;
}

/** `info`, checked against a NAR we ingested ourselves; throws NB_ERR_HASH_MISMATCH if it claims anything else. */
export function verifiedByIngest(info: PathInfo, ingested: IngestedNar): VerifiedPathInfo {
  if (!sameNode(info.node, ingested.node)) throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.storePath.basename}: root node is not the ingested NAR's`);
  if (info.narSize !== ingested.narSize)
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.storePath.basename}: NarSize does not match the ingested NAR`);
  if (!info.narHash.equals(ingested.narHash))
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.storePath.basename}: NarHash does not match the ingested NAR`);
  return info as VerifiedPathInfo;
}

/**
 * `info`, once the NAR rendered from its graph has its NarSize and NarHash. Rendering reads every Directory and
 * blob, so a graph with anything missing fails too (NB_ERR_MISSING_OBJECT).
 */
export async function verifyPathInfo(info: PathInfo, calculator: NarCalculator, opts?: CallOptions): Promise<VerifiedPathInfo> {
  if (info.narHash.algo !== 'sha256') throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.storePath.basename}: NarHash must be a sha256 hash`);
  const facts = await calculator.calculate(info.node, opts);
  if (facts.narSize !== info.narSize) {
    throw new NarBridgeError(
      'NB_ERR_HASH_MISMATCH',
      `${info.storePath.basename}: NarSize ${info.narSize} is not the ${facts.narSize} bytes its graph renders to`,
    );
  }
  if (Buffer.compare(facts.narSha256, info.narHash.digest) !== 0) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `${info.storePath.basename}: NarHash is not the sha256 of the NAR its graph renders to`);
  }
  return info as VerifiedPathInfo;
}
