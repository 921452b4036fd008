// SigningPathInfoService: a PathInfoService wrapper that adds our signatures to every PathInfo, after
// the uploader's (never replacing them), like tvix's store/src/pathinfoservice/signing_wrapper.rs.
import type { CallOptions } from '../castore/index.js';
import { fingerprintPath, type Signature, type SigningKey } from '../nix/index.js';
import type { PathInfo } from './path-info.js';
import type { PathInfoService } from './path-info-service.js';

/**
 * Signs once, on `put`, and stores the result, so serving a narinfo costs no signing. A PathInfo
 * stored before a key was configured has no signature by that key's name and is signed on `get`.
 */
export class SigningPathInfoService implements PathInfoService {
  constructor(
    private readonly inner: PathInfoService,
    private readonly keys: readonly SigningKey[],
  ) {}

  async get(digest: Uint8Array, opts?: CallOptions): Promise<PathInfo | null> {
    const info = await this.inner.get(digest, opts);
    return info && this.served(info);
  }

  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.inner.put(this.signed(info), opts);
  }

  async *list(opts?: CallOptions): AsyncIterable<PathInfo> {
    for await (const info of this.inner.list(opts)) yield this.served(info);
  }

  private served(info: PathInfo): PathInfo {
    const complete = this.keys.every((key) => info.signatures.some((sig) => sig.keyName === key.name));
    return complete ? info : this.signed(info);
  }

  /**
   * The uploader's signatures, then ours. An uploaded signature that claims one of our key names but
   * is not ours cannot verify (ed25519 signing is deterministic), so it is dropped rather than served.
   */
  private signed(info: PathInfo): PathInfo {
    const fingerprint = fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
    const ours = this.keys.map((key) => key.sign(fingerprint));
    const ourNames = new Set(this.keys.map((key) => key.name));
    const kept = info.signatures.filter((sig) => !ourNames.has(sig.keyName) || ours.some((own) => sameSignature(own, sig)));
    const added = ours.filter((own) => !kept.some((sig) => sameSignature(own, sig)));
    return { ...info, signatures: [...kept, ...added] };
  }
}

function sameSignature(a: Signature, b: Signature): boolean {
  return a.keyName === b.keyName && Buffer.compare(a.bytes, b.bytes) === 0;
}
