// PathInfo ⇄ tvix.store.v1.PathInfo protobuf (storage and the gRPC wire). The root node's name
// carries the store path basename; the deriver's name drops ".drv", as tvix does.
import { nodeFromProto, nodeToProto, uint64ToNumber } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { NixHash, Signature, StorePath, type ContentAddress, type HashAlgo } from '../nix/index.js';
import { tvix } from '../proto/index.js';
import type { PathInfo } from './path-info.js';

const { PathInfo: PathInfoProto, NARInfo } = tvix.store.v1;
const CaHash = NARInfo.CA.Hash;
const DRV_SUFFIX = '.drv';

/** Each content-address method and algorithm, in the order of the proto enum. */
const CA_KINDS: ReadonlyArray<readonly [tvix.store.v1.NARInfo.CA.Hash, ContentAddress['method'], HashAlgo]> = [
  [CaHash.NAR_SHA256, 'nar', 'sha256'],
  [CaHash.NAR_SHA1, 'nar', 'sha1'],
  [CaHash.NAR_SHA512, 'nar', 'sha512'],
  [CaHash.NAR_MD5, 'nar', 'md5'],
  [CaHash.TEXT_SHA256, 'text', 'sha256'],
  [CaHash.FLAT_SHA1, 'flat', 'sha1'],
  [CaHash.FLAT_MD5, 'flat', 'md5'],
  [CaHash.FLAT_SHA256, 'flat', 'sha256'],
  [CaHash.FLAT_SHA512, 'flat', 'sha512'],
];

export function pathInfoToProto(info: PathInfo): tvix.store.v1.IPathInfo {
  const name = new TextEncoder().encode(info.storePath.basename);
  const ca = info.ca;
  const caKind = ca && CA_KINDS.find(([, method, algo]) => method === ca.method && algo === ca.hash.algo);
  if (ca && !caKind) throw new NarBridgeError('NB_ERR_UNSUPPORTED', `content address ${ca.method}:${ca.hash.algo} has no tvix encoding`);
  return {
    node: nodeToProto(name, info.node),
    references: info.references.map((ref) => ref.digest),
    narinfo: {
      narSize: info.narSize,
      narSha256: info.narHash.digest,
      signatures: info.signatures.map((sig) => ({ name: sig.keyName, data: sig.bytes })),
      referenceNames: info.references.map((ref) => ref.basename),
      ...(info.deriver ? { deriver: { name: info.deriver.name.slice(0, -DRV_SUFFIX.length), digest: info.deriver.digest } } : {}),
      ...(ca && caKind ? { ca: { type: caKind[0], digest: ca.hash.digest } } : {}),
    },
  };
}

export function pathInfoFromProto(proto: tvix.store.v1.IPathInfo): PathInfo {
  const invalid = (why: string) => new NarBridgeError('NB_ERR_INVALID_NODE', `invalid PathInfo: ${why}`);
  if (!proto.node) throw invalid('no root node');
  const { name, node } = nodeFromProto(proto.node);
  const storePath = StorePath.parseBasename(new TextDecoder('utf-8', { fatal: true }).decode(name));
  const narinfo = proto.narinfo;
  if (!narinfo) throw invalid('no narinfo');
  const referenceNames = narinfo.referenceNames ?? [];
  const references = referenceNames.map((ref) => StorePath.parseBasename(ref));
  const digests = proto.references ?? [];
  if (digests.length !== references.length || references.some((ref, i) => !Buffer.from(ref.digest).equals(digests[i] ?? new Uint8Array(0)))) {
    throw invalid('references and reference_names disagree');
  }
  const deriver = narinfo.deriver;
  const caKind = narinfo.ca ? CA_KINDS.find(([type]) => type === (narinfo.ca?.type ?? CaHash.NAR_SHA256)) : undefined;
  if (narinfo.ca && !caKind) throw invalid('unknown CA type');
  return {
    storePath,
    node,
    references,
    narHash: NixHash.fromDigest('sha256', narinfo.narSha256 ?? new Uint8Array(0)),
    narSize: uint64ToNumber(narinfo.narSize, 'NAR size'),
    signatures: (narinfo.signatures ?? []).map((sig) => Signature.fromParts(sig.name ?? '', sig.data ?? new Uint8Array(0))),
    ...(deriver ? { deriver: StorePath.fromParts(deriver.digest ?? new Uint8Array(0), `${deriver.name ?? ''}${DRV_SUFFIX}`) } : {}),
    ...(narinfo.ca && caKind ? { ca: { method: caKind[1], hash: NixHash.fromDigest(caKind[2], narinfo.ca.digest ?? new Uint8Array(0)) } } : {}),
  };
}

export function encodePathInfo(info: PathInfo): Uint8Array {
  return PathInfoProto.encode(pathInfoToProto(info)).finish();
}

export function decodePathInfo(bytes: Uint8Array): PathInfo {
  return pathInfoFromProto(PathInfoProto.decode(bytes));
}
