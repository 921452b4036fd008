// GuardedPathInfoService: the one gate every PathInfo write passes, whichever door it came through. A new path is
// stored only once its NarHash/NarSize match the graph it names and the upload policy accepts it; a path we hold
// keeps its contents for good, and a put of the same contents only adds signatures.
import { asWriter, requireStoredRoot, type CallOptions, type Fence } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import type { Signature, StorePathDigest } from '../../nix/index.js';
import type { Castore } from '../../castore/index.js';
import type { NarCalculator } from '../nar/calculator.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';
import { PerPathQueue } from './per-path-queue.js';
import type { Store } from '../store.js';
import { checkUploadPolicy, type UploadPolicy } from './policy.js';
import { verifyPathInfo, type VerifiedPathInfo } from './verified.js';
import { sameContents } from './overwrite.js';

export class GuardedPathInfoService implements PathInfoService {
  /** Check-then-write per store path: two puts of one new path must not both see it absent. */
  readonly #writes = new PerPathQueue();

  constructor(
    private readonly inner: PathInfoService,
    private readonly castore: Castore & { readonly fence?: Fence },
    private readonly calculator: NarCalculator,
    private readonly policy: UploadPolicy,
  ) {}

  get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    return this.inner.get(digest, opts);
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.inner.list(opts);
  }

  /** An untrusted PathInfo (a gRPC Put, a narinfo naming a castore node): its NAR is rendered and hashed first. */
  put(info: PathInfo, opts?: CallOptions): Promise<void> {
    return this.#write(info, () => verifyPathInfo(info, this.calculator, opts), opts);
  }

  /** A PathInfo whose NarHash/NarSize we computed while ingesting its NAR: not rendered again. */
  putVerified(info: VerifiedPathInfo, opts?: CallOptions): Promise<void> {
    this.calculator.remember(info.node, { narSize: info.narSize, narSha256: info.narHash.digest });
    return this.#write(info, async () => info, opts);
  }

  #write(info: PathInfo, verify: () => Promise<VerifiedPathInfo>, opts?: CallOptions): Promise<void> {
    // A writer behind the GC fence, re-checking presence inside it: objects a GC swept before this write began are
    // seen missing here, and no GC sweeps until the PathInfo is in.
    return asWriter(this.castore.fence, () =>
      this.#writes.run(info.storePath.digest, async () => {
        const held = await this.inner.get(info.storePath.digest, opts);
        if (held && !sameContents(held, info)) {
          throw new NarBridgeError(
            'NB_ERR_FORBIDDEN',
            `${info.storePath.basename} is already stored with another NarHash or contents; store paths are immutable`,
          );
        }
        // The same contents as held still get verified: what we hold may predate these checks.
        const verified = await verify();
        const kept: PathInfo = held ? { ...held, signatures: mergeSignatures(held.signatures, info.signatures) } : verified;
        await checkUploadPolicy(kept, this.policy, this.castore, this.calculator, opts);
        await requireStoredRoot(this.castore, kept.node, opts);
        await this.inner.put(kept, opts);
      }),
    );
  }
}

/** The store's PathInfos behind the gate: what the HTTP and gRPC doors are handed. */
export interface GuardedStore extends Store {
  readonly pathInfos: GuardedPathInfoService;
  /** Makes the PathInfo cache forget paths deleted underneath it (GC, deletion): their narinfos 404 at once. */
  readonly forgetPaths?: (digests: readonly Uint8Array[]) => void;
}

/** Union, keeping order: concurrent `nix store sign` runs must not drop each other's signatures. */
function mergeSignatures(kept: readonly Signature[], added: readonly Signature[]): Signature[] {
  const seen = new Set(kept.map(String));
  return [...kept, ...added.filter((sig) => !seen.has(String(sig)))];
}
