// The write side of the binary-cache protocol: a NAR upload becomes castore objects plus an upload
// record; a narinfo upload is matched against such a record and becomes a PathInfo, written last.
import { Buffer } from 'node:buffer';
import type { CallOptions, Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { decodeNixBase32, parseNarInfo, type NarInfo, type StorePathDigest } from '../../nix/index.js';
import { decompress, type Compression } from '../compression/decompress.js';
import { ingestNar } from '../nar/ingest.js';
import { capExpansion, capUploadSize, DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './limits.js';
import type { UploadedNar } from './nar-index/service.js';
import { CASTORE_NAR_PREFIX, decodeNodeText } from '../narinfo.js';
import type { PathInfo } from '../path-info.js';
import type { Store } from '../store.js';
import { StreamDigest } from '../nar/measure.js';
import { asWriter, requireStoredRoot } from '../../castore/index.js';
import type { GuardedStore } from '../pathinfo/guarded.js';
import { verifiedByIngest } from '../pathinfo/verified.js';

/** `nar/<nixbase32 sha256 of the file>.nar[.<ext>]`, as Nix names uploads (gzip has no extension). */
const UPLOADED_NAR_URL = /^nar\/([0-9a-df-np-sv-z]{52})\.nar(\.[a-z0-9]+)?$/;
/** What follows `.nar` in the names of uploads we can decode (Nix 2.8's own names, plus `.gz`). */
const DECODED_SUFFIXES = ['', '.xz', '.zst', '.bz2', '.br', '.gz'];

/** What the name `<filehash>.nar[.<ext>]` of an uploaded NAR says. */
export interface UploadedNarName {
  /** The raw 32-byte sha256 of the file. */
  readonly fileHash: Uint8Array;
  /** What follows `.nar`, without its dot; empty for none and gzip alike. */
  readonly extension: string;
}

export function parseUploadedNarName(file: string): UploadedNarName | null {
  const match = UPLOADED_NAR_URL.exec(`nar/${file}`);
  return match?.[1] && DECODED_SUFFIXES.includes(match[2] ?? '') ? { fileHash: decodeNixBase32(match[1]), extension: (match[2] ?? '').slice(1) } : null;
}

/** Why `file` is not a NAR name we take, in words Nix shows its user (it prints the body of a refused PUT). */
export function uploadedNarNameProblem(file: string): string {
  const suffix = UPLOADED_NAR_URL.exec(`nar/${file}`)?.[2];
  const supported = DECODED_SUFFIXES.map((s) => `.nar${s}`).join(', ');
  if (suffix === undefined) return `not a NAR file name: expected <nixbase32 sha256> followed by one of ${supported}`;
  return `${suffix.slice(1)} compression is not supported (supported: ${supported}); push with ?compression=zstd or ?compression=none`;
}

interface ReceiveNarOptions extends CallOptions {
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
  // One writer from ingest to upload record: a GC must not take what the NAR deduplicated against in between.
  return asWriter(store.fence, async () => {
    const { node, narHash, narSize } = await ingestNar(nar, store, { ...call, limits: limits.nar });
    if (!Buffer.from(plain ? narHash.digest : file.sha256).equals(fileHash)) {
      throw new NarBridgeError('NB_ERR_HASH_MISMATCH', 'uploaded file does not match the sha256 in its URL');
    }
    const upload: UploadedNar = { node, narHash, narSize, fileSize: file.size };
    await store.narUploads.put(fileHash, upload, opts);
    return upload;
  });
}

/**
 * Turns an uploaded narinfo into a PathInfo and hands it to the store's gate: one naming a NAR uploaded here was
 * verified against that upload (no second render); one naming a castore node is verified by the gate.
 */
export async function receiveNarInfo(store: GuardedStore, pathDigest: StorePathDigest, text: string, opts: CallOptions = {}): Promise<PathInfo> {
  const narInfo = parseNarInfo(text);
  if (!Buffer.from(narInfo.storePath.digest).equals(pathDigest)) {
    throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', `StorePath ${narInfo.storePath.basename} does not match the narinfo URL`);
  }
  if (narInfo.narHash.algo !== 'sha256') throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', 'NarHash must be a sha256 hash');

  if (narInfo.url.startsWith(CASTORE_NAR_PREFIX)) {
    // A narinfo we served, coming back (e.g. from `nix store sign`).
    const info = pathInfoOf(narInfo, decodeNodeText(narInfo.url.slice(CASTORE_NAR_PREFIX.length).split('?')[0] ?? ''));
    await store.pathInfos.put(info, opts);
    return info;
  }
  // One writer from the upload's presence check to its claim (see WriteFence).
  return asWriter(store.fence, async () => {
    const { fileHash, upload } = await uploadNamed(store, narInfo, opts);
    const info = verifiedByIngest(pathInfoOf(narInfo, upload.node), upload);
    await store.pathInfos.putVerified(info, opts);
    await store.narUploads.claim(fileHash, pathDigest, opts);
    return info;
  });
}

/** The upload record of the NAR a narinfo's URL names (and its file hash), once its objects are stored. */
async function uploadNamed(store: Store, narInfo: NarInfo, opts: CallOptions): Promise<{ fileHash: Uint8Array; upload: UploadedNar }> {
  const fileHash = parseUploadedNarName(narInfo.url.slice('nar/'.length))?.fileHash;
  if (!narInfo.url.startsWith('nar/') || !fileHash) {
    throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', `URL ${narInfo.url} is not a NAR location this cache knows`);
  }
  const upload = await store.narUploads.get(fileHash, opts);
  if (!upload) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `NAR ${narInfo.url} was not uploaded`);
  await requireStoredRoot(store, upload.node, opts);
  return { fileHash, upload };
}

function pathInfoOf(narInfo: NarInfo, node: Node): PathInfo {
  return {
    storePath: narInfo.storePath,
    node,
    references: narInfo.references,
    narHash: narInfo.narHash,
    narSize: narInfo.narSize,
    signatures: narInfo.sigs,
    ...(narInfo.deriver ? { deriver: narInfo.deriver } : {}),
    ...(narInfo.ca ? { ca: narInfo.ca } : {}),
  };
}
