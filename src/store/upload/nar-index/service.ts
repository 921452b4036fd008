// Uploaded NARs, keyed by the sha256 of the file Nix PUT (its FileHash): what a later narinfo PUT
// is matched against, and what HEAD /nar/<filehash>.nar* answers from. Kept after the narinfo
// arrives, because identical NARs of different store paths share one upload (Nix HEADs and skips).
import { Buffer } from 'node:buffer';
import type { CallOptions, Node } from '../../../castore/index.js';
import { storePathDigest, type NixHash, type StorePathDigest } from '../../../nix/index.js';

export interface UploadedNar {
  readonly node: Node;
  readonly narHash: NixHash;
  readonly narSize: number;
  readonly fileSize: number;
  /**
   * The 20-byte store path digest of the last narinfo PUT that named this upload, if any: serving the file back
   * (GET nar/<filehash>…) is only for uploads a PathInfo vouched for, and this finds that PathInfo in one lookup.
   */
  readonly claimedBy?: StorePathDigest;
}

export interface NarUploadIndex {
  /** `fileHash` is the raw 32-byte sha256 of the uploaded file. */
  get(fileHash: Uint8Array, opts?: CallOptions): Promise<UploadedNar | null>;
  /** Records an upload; a claim already recorded for the same file hash is kept (same bytes, same NAR). */
  put(fileHash: Uint8Array, upload: Omit<UploadedNar, 'claimedBy'>, opts?: CallOptions): Promise<void>;
  /** Notes that the PathInfo of `storePath` (its 20-byte digest) was made from this upload. */
  claim(fileHash: Uint8Array, storePath: StorePathDigest, opts?: CallOptions): Promise<void>;
  /**
   * Notes that a client was just told this unclaimed upload is here (HEAD): it may skip the upload and PUT the narinfo
   * naming it any time now, so a GC's grace period for unclaimed uploads counts from this moment.
   */
  touch(fileHash: Uint8Array, opts?: CallOptions): Promise<void>;
}

export class MemoryNarUploadIndex implements NarUploadIndex {
  readonly #uploads = new Map<string, UploadedNar>();

  async get(fileHash: Uint8Array): Promise<UploadedNar | null> {
    return this.#uploads.get(Buffer.from(fileHash).toString('hex')) ?? null;
  }

  async put(fileHash: Uint8Array, upload: Omit<UploadedNar, 'claimedBy'>): Promise<void> {
    const key = Buffer.from(fileHash).toString('hex');
    const claimedBy = this.#uploads.get(key)?.claimedBy;
    this.#uploads.set(key, claimedBy ? { ...upload, claimedBy } : upload);
  }

  async claim(fileHash: Uint8Array, storePath: StorePathDigest): Promise<void> {
    const key = Buffer.from(fileHash).toString('hex');
    const upload = this.#uploads.get(key);
    if (upload) this.#uploads.set(key, { ...upload, claimedBy: storePathDigest(storePath.slice()) });
  }

  /** Nothing collects a memory store. */
  async touch(): Promise<void> {}
}
