// An uploaded NAR served back at the URL it was uploaded to (nar/<filehash>.nar[.ext]). A client that pushed keeps
// the narinfo it uploaded for 30 days and fetches that URL, decompressing it as that narinfo's Compression says
// (nix-http-protocol.md §7). The bytes are rendered from castore and framed in the container the URL names — in a
// stored mode where the format has one, so answering costs about a plain render. They differ from the uploaded file
// (FileHash), which Nix never checks; it checks the NarHash of what it decompresses.
import { Buffer } from 'node:buffer';
import type { CallOptions } from '../../castore/index.js';
import { brotliUncompressed, brotliUncompressedSize } from '../compression/brotli-uncompressed.js';
import { bzip2Compress } from '../compression/bzip2-compress.js';
import type { Compression } from '../compression/decompress.js';
import { gzipStored, gzipStoredSize } from '../compression/gzip-stored.js';
import type { UploadedNar } from './nar-index/service.js';
import { planNar } from '../nar/render.js';
import { asWriter, sameNode } from '../../castore/index.js';
import type { Store } from '../store.js';
import type { UploadedNarName } from './receive.js';
import { xzStored, xzStoredSize } from '../compression/xz-stored.js';
import { zstdRaw, zstdRawSize } from '../compression/zstd-raw.js';

type Encode = (nar: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

interface Container {
  readonly encode: Encode;
  /** File size for a NAR of `narSize` bytes; absent where only compressing tells. */
  readonly size?: (narSize: number) => number;
}

const CONTAINERS: Record<Compression, Container> = {
  none: { encode: (nar) => nar, size: (narSize) => narSize },
  xz: { encode: xzStored, size: xzStoredSize },
  zstd: { encode: zstdRaw, size: zstdRawSize },
  br: { encode: brotliUncompressed, size: brotliUncompressedSize },
  gzip: { encode: gzipStored, size: gzipStoredSize },
  bzip2: { encode: bzip2Compress },
};

/** Extensions Nix 2.8 writes (§2.2), plus `.gz`; lzip and lz4 uploads are never accepted, so never served. */
const BY_EXTENSION: Readonly<Record<string, Compression>> = { xz: 'xz', zst: 'zstd', bz2: 'bzip2', br: 'br', gz: 'gzip' };

export interface UploadedNarFile {
  readonly compression: Compression;
  /** Bytes the file will have; null for bzip2, which is compressed as it is sent. */
  readonly size: number | null;
}

interface ServedNar extends UploadedNarFile {
  stream(): AsyncIterable<Uint8Array>;
}

/**
 * What GET would send for this upload, or null when nothing was uploaded under that name (HEAD). Telling a client
 * that an unclaimed upload is here renews its grace period: the client skips the upload and PUTs the narinfo naming it
 * later. As a writer (see WriteFence), so a GC either swept it before (the client is told 404 and uploads) or sees the
 * renewal.
 */
export async function describeUploadedNar(store: Store, name: UploadedNarName, opts?: CallOptions): Promise<UploadedNarFile | null> {
  return asWriter(store.fence, async () => {
    const upload = await store.narUploads.get(name.fileHash, opts);
    const file = upload && describe(name, upload);
    if (file && !upload.claimedBy) await store.narUploads.touch(name.fileHash, opts);
    return file;
  });
}

/**
 * The upload as a file in the container its name says, or null unless a PathInfo was made from it and still
 * holds its contents: the server serves what a narinfo vouched for, not whatever bytes were PUT.
 */
export async function openUploadedNar(store: Store, name: UploadedNarName, opts: CallOptions = {}): Promise<ServedNar | null> {
  const upload = await store.narUploads.get(name.fileHash, opts);
  if (!upload?.claimedBy) return null;
  const claimant = await store.pathInfos.get(upload.claimedBy, opts);
  if (!claimant || !sameNode(claimant.node, upload.node)) return null;
  const file = describe(name, upload);
  if (!file) return null;
  const nar = await planNar(upload.node, store, opts);
  const { encode } = CONTAINERS[file.compression];
  return { ...file, stream: () => encode(nar.stream()) };
}

function describe(name: UploadedNarName, upload: UploadedNar): UploadedNarFile | null {
  const compression = name.extension === '' ? plainOrGzip(name, upload) : BY_EXTENSION[name.extension];
  if (!compression) return null;
  return { compression, size: CONTAINERS[compression].size?.(upload.narSize) ?? null };
}

/** `.nar` is a raw NAR (its file hash is the NarHash) or, from compression=gzip, a gzip file (§2.2). */
function plainOrGzip(name: UploadedNarName, upload: UploadedNar): Compression {
  const plain = upload.fileSize === upload.narSize && Buffer.from(upload.narHash.digest).equals(name.fileHash);
  return plain ? 'none' : 'gzip';
}
