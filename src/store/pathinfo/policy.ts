// Which uploaded narinfos may become PathInfos: with --require-signed-uploads, only those signed by a
// trusted key, or content-addressed ones whose CA we checked against the content we hold.
import { createHash } from 'node:crypto';
import type { CallOptions, Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { contentAddressedPath, fingerprintPath, type ContentAddress, type PublicKey, type Signature } from '../../nix/index.js';
import type { Castore } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { NarCalculator } from '../nar/calculator.js';

export interface UploadPolicy {
  /** Keys whose signatures make an upload acceptable (our own signing keys count too). */
  readonly trustedKeys: readonly PublicKey[];
  readonly requireSigned: boolean;
}

export const OPEN_UPLOAD_POLICY: UploadPolicy = { trustedKeys: [], requireSigned: false };

/** Throws NB_ERR_FORBIDDEN, with the reason, unless `info` may be stored under `policy`. */
export async function checkUploadPolicy(
  info: PathInfo,
  policy: UploadPolicy,
  castore: Castore,
  calculator: NarCalculator,
  opts: CallOptions = {},
): Promise<void> {
  if (!policy.requireSigned) return;
  const fingerprint = fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
  if (signedByTrustedKey(fingerprint, info.signatures, policy)) return;
  const why = info.ca ? await contentAddressProblem(info, info.ca, castore, calculator, opts) : 'it has no content address';
  if (why === null) return;
  throw new NarBridgeError('NB_ERR_FORBIDDEN', `${info.storePath.basename} is not signed by a trusted key (${trustedKeyNames(policy)}), and ${why}`);
}

export function signedByTrustedKey(fingerprint: string, signatures: readonly Signature[], policy: UploadPolicy): boolean {
  return signatures.some((sig) => policy.trustedKeys.some((key) => key.verify(fingerprint, sig)));
}

/** For refusals: which keys would have been accepted. */
export function trustedKeyNames(policy: UploadPolicy): string {
  return policy.trustedKeys.map((key) => key.name).join(', ') || 'none configured';
}

/** Null when the content we hold and the store path are exactly what `ca` claims; else why not. */
async function contentAddressProblem(
  info: PathInfo,
  ca: ContentAddress,
  castore: Castore,
  calculator: NarCalculator,
  opts: CallOptions,
): Promise<string | null> {
  const expected = contentAddressedPath(info.storePath.name, ca, info.references, info.storePath);
  if (!expected) return 'its content address cannot have these references';
  if (!expected.equals(info.storePath)) return 'its store path does not match its content address';
  const digest = await contentHash(info, ca, castore, calculator, opts);
  if (digest === null) return `its content is not a single non-executable file, as ${ca.method} addressing requires`;
  if (Buffer.compare(digest, ca.hash.digest) !== 0) return 'its content does not match its content address';
  return null;
}

/** The hash `ca` is over: the NAR for `fixed:r:`, the file's bytes for `fixed:` and `text:`. */
async function contentHash(info: PathInfo, ca: ContentAddress, castore: Castore, calculator: NarCalculator, opts: CallOptions): Promise<Uint8Array | null> {
  // NarHash was computed by us from the upload (or re-rendered) before the policy runs.
  if (ca.method === 'nar' && ca.hash.algo === 'sha256') return info.narHash.digest;
  if (ca.method === 'nar') return calculator.digest(info.node, ca.hash.algo, opts);
  const hash = createHash(ca.hash.algo);
  const contents = isPlainFile(info.node) && (await castore.blobs.openRead(info.node.digest, opts));
  if (!contents) return null;
  for await (const chunk of contents) hash.update(chunk);
  return hash.digest();
}

function isPlainFile(node: Node): node is Extract<Node, { kind: 'file' }> {
  return node.kind === 'file' && !node.executable;
}
