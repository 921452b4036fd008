// Uploaded NARs, keyed by the sha256 of the file Nix PUT (its FileHash): what a later narinfo PUT
// is matched against, and what HEAD /nar/<filehash>.nar* answers from. Kept after the narinfo
// arrives, because identical NARs of different store paths share one upload (Nix HEADs and skips).
import { Buffer } from 'node:buffer';
import type { CallOptions, Node } from '../castore/index.js';
import type { NixHash } from '../nix/index.js';

export interface UploadedNar {
  readonly node: Node;
  readonly narHash: NixHash;
  readonly narSize: number;
  readonly fileSize: number;
}

export interface NarUploadIndex {
  /** `fileHash` is the raw 32-byte sha256 of the uploaded file. */
  get(fileHash: Uint8Array, opts?: CallOptions): Promise<UploadedNar | null>;
  put(fileHash: Uint8Array, upload: UploadedNar, opts?: CallOptions): Promise<void>;
}

export class MemoryNarUploadIndex implements NarUploadIndex {
  readonly #uploads = new Map<string, UploadedNar>();

  async get(fileHash: Uint8Array): Promise<UploadedNar | null> {
    return this.#uploads.get(Buffer.from(fileHash).toString('hex')) ?? null;
  }

  async put(fileHash: Uint8Array, upload: UploadedNar): Promise<void> {
    this.#uploads.set(Buffer.from(fileHash).toString('hex'), upload);
  }
}
