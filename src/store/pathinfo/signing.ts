// SigningPathInfoService: a PathInfoService wrapper that adds our signatures to every PathInfo, after
// the uploader's (never replacing them), like tvix's store/src/pathinfoservice/signing_wrapper.rs.
import type { CallOptions } from '../../castore/index.js';
import { fingerprintPath, type PublicKey, type Signature, type SigningKey, type StorePathDigest } from '../../nix/index.js';
import type { NarCalculator } from '../nar/calculator.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';
import { PerPathQueue } from './per-path-queue.js';
import { verifyPathInfo } from './verified.js';

/** The pino method we use, so the service can take Fastify's logger or a child of it. */
export interface SigningLog {
  warn(fields: object, message: string): void;
}

/**
 * Signs once, on `put`, and stores the result, so serving a narinfo costs no signing. Puts reach it only through
 * the checks of GuardedPathInfoService or an upstream pull, so what it signs there was verified. A PathInfo found
 * without our valid signature (stored before a key was configured, or by someone else in a shared or far store)
 * is signed on `get` only once the NAR rendered from its graph matches its NarHash/NarSize, and written back.
 */
export class SigningPathInfoService implements PathInfoService {
  /** A write-back must not replace a PathInfo put meanwhile. */
  readonly #writes = new PerPathQueue();
  readonly #publicKeys: readonly PublicKey[];

  constructor(
    private readonly inner: PathInfoService,
    private readonly keys: readonly SigningKey[],
    private readonly calculator: NarCalculator,
    private readonly log?: SigningLog,
  ) {
    this.#publicKeys = keys.map((key) => key.publicKey());
  }

  async get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    const info = await this.inner.get(digest, opts);
    if (!info || this.complete(info)) return info;
    return this.#writes.run(digest, async () => {
      // Read again inside the turn: a put that ran while we waited wins, and is signed already.
      const current = await this.inner.get(digest, opts);
      if (!current || this.complete(current)) return current;
      const checked = await verifyPathInfo(current, this.calculator, opts).catch((err: unknown) => {
        this.log?.warn({ err, storePath: current.storePath.basename }, 'not signing a stored path that fails its checks');
        return null;
      });
      if (!checked) return this.withoutFakes(current);
      const signed = this.signed(checked);
      // A failed write-back (a full disk, a read-only far store) must not fail the read: we sign again next time.
      await this.inner.put(signed, opts).catch((err: unknown) => this.log?.warn({ err, storePath: signed.storePath.basename }, 'could not keep our signature'));
      return signed;
    });
  }

  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.#writes.run(info.storePath.digest, () => this.inner.put(this.signed(info), opts));
  }

  /** Listings are rare and not worth a render per path: only what already carries our valid signature keeps it. */
  async *list(opts?: CallOptions): AsyncIterable<PathInfo> {
    for await (const info of this.inner.list(opts)) yield this.complete(info) ? info : this.withoutFakes(info);
  }

  /** Whether every key of ours has a signature on `info` that verifies (a name alone proves nothing). */
  private complete(info: PathInfo): boolean {
    const fingerprint = fingerprintOf(info);
    return this.#publicKeys.every((key) => info.signatures.some((sig) => sig.keyName === key.name && key.verify(fingerprint, sig)));
  }

  /** `info` without the signatures that claim one of our key names but do not verify. */
  private withoutFakes(info: PathInfo): PathInfo {
    const fingerprint = fingerprintOf(info);
    const claimsOurs = (sig: Signature) => this.#publicKeys.some((key) => key.name === sig.keyName);
    const signatures = info.signatures.filter((sig) => !claimsOurs(sig) || this.#publicKeys.some((key) => key.verify(fingerprint, sig)));
    return signatures.length === info.signatures.length ? info : { ...info, signatures };
  }

  /** The uploader's signatures, then ours; one claiming our key name that is not ours is dropped. */
  private signed(info: PathInfo): PathInfo {
    const fingerprint = fingerprintOf(info);
    const ours = this.keys.map((key) => key.sign(fingerprint));
    const kept = this.withoutFakes(info).signatures;
    const added = ours.filter((own) => !kept.some((sig) => sameSignature(own, sig)));
    return { ...info, signatures: [...kept, ...added] };
  }
}

function fingerprintOf(info: PathInfo): string {
  return fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
}

function sameSignature(a: Signature, b: Signature): boolean {
  return a.keyName === b.keyName && Buffer.compare(a.bytes, b.bytes) === 0;
}
