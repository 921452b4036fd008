// The write side of the binary-cache protocol: a NAR upload becomes castore objects plus an upload
// record; a narinfo upload is matched against such a record and becomes a PathInfo, written last.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { encodeRootNode, type CallOptions, type Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { decodeNixBase32, parseNarInfo, type NarInfo, type Signature } from '../nix/index.js';
import { decompress, type Compression } from './decompress.js';
import { ingestNar } from './ingest.js';
import { capExpansion, capUploadSize, DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './upload-limits.js';
import { checkUploadPolicy, OPEN_UPLOAD_POLICY, type UploadPolicy } from './upload-policy.js';
import type { UploadedNar } from './nar-uploads.js';
import { CASTORE_NAR_PREFIX, decodeNodeText } from './narinfo.js';
import type { PathInfo } from './path-info.js';
import { planNar } from './render.js';
import type { Store } from './store.js';
import { StreamDigest } from './measure.js';
import { requireStoredRoot } from './stored-root.js';

/** `nar/<nixbase32 sha256 of the file>.nar[.<ext>]`, as Nix names uploads (gzip has no extension). */
const UPLOADED_NAR_URL = /^nar\/([0-9a-df-np-sv-z]{52})\.nar(\.[a-z0-9]+)?$/;
/** What follows `.nar` in the names of uploads we can decode (Nix 2.8's own names, plus `.gz`). */
const DECODED_SUFFIXES = ['', '.xz', '.zst', '.bz2', '.br', '.gz'];

export function parseUploadedNarName(file: string): Uint8Array | null {
  const match = UPLOADED_NAR_URL.exec(`nar/${file}`);
  return match?.[1] && DECODED_SUFFIXES.includes(match[2] ?? '') ? decodeNixBase32(match[1]) : null;
}

/** Why `file` is not a NAR name we take, in words Nix shows its user (it prints the body of a refused PUT). */
export function uploadedNarNameProblem(file: string): string {
  const suffix = UPLOADED_NAR_URL.exec(`nar/${file}`)?.[2];
  const supported = DECODED_SUFFIXES.map((s) => `.nar${s}`).join(', ');
  if (suffix === undefined) return `not a NAR file name: expected <nixbase32 sha256> followed by one of ${supported}`;
  return `${suffix.slice(1)} compression is not supported (supported: ${supported}); push with ?compression=zstd or ?compression=none`;
}

export interface ReceiveNarOptions extends CallOptions {
  readonly limits?: UploadLimits;
  /** The URL says `.br`: brotli has no magic number, so only then is a body we don't recognise decoded as brotli. */
  readonly brotli?: boolean;
}

/** Ingests an uploaded NAR file (compressed or not) and records it under its file hash. */
export async function receiveNar(store: Store, fileHash: Uint8Array, body: AsyncIterable<Uint8Array>, opts: ReceiveNarOptions = {}): Promise<UploadedNar> {
  const { limits = DEFAULT_UPLOAD_LIMITS, brotli = false, ...call } = opts;
  const file = new StreamDigest();
  // An uncompressed upload is the NAR itself: its sha256 is the NarHash ingest computes anyway.
  let plain = false;
  const whenDetected = (compression: Compression) => {
    plain = compression === 'none';
    if (plain) file.countOnly();
  };
  const nar = capExpansion(decompress(capUploadSize(file.tap(body), limits.maxNarSize), { brotli, detected: whenDetected }), () => file.size, limits);
  const { node, narHash, narSize } = await ingestNar(nar, store, { ...call, limits: limits.nar });
  if (!Buffer.from(plain ? narHash.digest : file.sha256).equals(fileHash)) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', 'uploaded file does not match the sha256 in its URL');
  }
  const upload: UploadedNar = { node, narHash, narSize, fileSize: file.size };
  await store.narUploads.put(fileHash, upload, opts);
  return upload;
}

export interface ReceiveNarInfoOptions extends CallOptions {
  readonly policy?: UploadPolicy;
}

/**
 * Turns an uploaded narinfo into a PathInfo, once the NAR it names is known to be stored and to match,
 * and the policy accepts it.
 */
export async function receiveNarInfo(store: Store, pathDigest: Uint8Array, text: string, opts: ReceiveNarInfoOptions = {}): Promise<PathInfo> {
  const narInfo = parseNarInfo(text);
  if (!Buffer.from(narInfo.storePath.digest).equals(pathDigest)) {
    throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', `StorePath ${narInfo.storePath.basename} does not match the narinfo URL`);
  }
  if (narInfo.narHash.algo !== 'sha256') throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', 'NarHash must be a sha256 hash');

  const existing = await store.pathInfos.get(pathDigest, opts);
  const node = await resolveNode(store, narInfo, existing, opts);
  const info: PathInfo = {
    storePath: narInfo.storePath,
    node,
    references: narInfo.references,
    narHash: narInfo.narHash,
    narSize: narInfo.narSize,
    signatures: sameContents(existing, node, narInfo) ? mergeSignatures(existing.signatures, narInfo.sigs) : narInfo.sigs,
    ...(narInfo.deriver ? { deriver: narInfo.deriver } : {}),
    ...(narInfo.ca ? { ca: narInfo.ca } : {}),
  };
  await checkUploadPolicy(info, opts.policy ?? OPEN_UPLOAD_POLICY, store, opts);
  await store.pathInfos.put(info, opts);
  return info;
}

/** Which castore node a narinfo's URL and NarHash/NarSize stand for, checked against what we hold. */
async function resolveNode(store: Store, narInfo: NarInfo, existing: PathInfo | null, opts: CallOptions): Promise<Node> {
  if (narInfo.url.startsWith(CASTORE_NAR_PREFIX)) {
    // A narinfo we served, coming back (e.g. from `nix store sign`): trust it only if it names the
    // contents we already hold for this path, otherwise recompute the NAR hash from the graph.
    const node = decodeNodeText(narInfo.url.slice(CASTORE_NAR_PREFIX.length).split('?')[0] ?? '');
    if (!sameContents(existing, node, narInfo)) await checkNarOf(store, node, narInfo, opts);
    return node;
  }
  const fileHash = parseUploadedNarName(narInfo.url.slice('nar/'.length));
  if (!narInfo.url.startsWith('nar/') || !fileHash) {
    throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', `URL ${narInfo.url} is not a NAR location this cache knows`);
  }
  const upload = await store.narUploads.get(fileHash, opts);
  if (!upload) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `NAR ${narInfo.url} was not uploaded`);
  if (!upload.narHash.equals(narInfo.narHash) || upload.narSize !== narInfo.narSize) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', `NarHash/NarSize do not match the uploaded NAR ${narInfo.url}`);
  }
  await requireStoredRoot(store, upload.node, opts);
  return upload.node;
}

function sameContents(existing: PathInfo | null, node: Node, narInfo: NarInfo): existing is PathInfo {
  return (
    existing !== null &&
    existing.narHash.equals(narInfo.narHash) &&
    existing.narSize === narInfo.narSize &&
    Buffer.from(encodeRootNode(new Uint8Array(0), existing.node)).equals(encodeRootNode(new Uint8Array(0), node))
  );
}

/** Renders the node's NAR (checking every object exists) and compares it with the narinfo's claims. */
async function checkNarOf(store: Store, node: Node, narInfo: NarInfo, opts: CallOptions): Promise<void> {
  const plan = await planNar(node, store, opts);
  if (plan.narSize !== narInfo.narSize) throw new NarBridgeError('NB_ERR_HASH_MISMATCH', 'NarSize does not match the NAR named by URL');
  const hash = createHash('sha256');
  for await (const chunk of plan.stream()) hash.update(chunk);
  if (!hash.digest().equals(narInfo.narHash.digest)) {
    throw new NarBridgeError('NB_ERR_HASH_MISMATCH', 'NarHash does not match the NAR named by URL');
  }
}

/** Union, keeping order: concurrent `nix store sign` runs must not drop each other's signatures. */
function mergeSignatures(kept: readonly Signature[], added: readonly Signature[]): Signature[] {
  const seen = new Set(kept.map(String));
  return [...kept, ...added.filter((sig) => !seen.has(String(sig)))];
}
