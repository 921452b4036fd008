// SigningPathInfoService: a PathInfoService wrapper that adds our signatures to every PathInfo, after
// the uploader's (never replacing them), like tvix's store/src/pathinfoservice/signing_wrapper.rs.
import type { CallOptions } from '../castore/index.js';
import { fingerprintPath, type Signature, type SigningKey } from '../nix/index.js';
import type { PathInfo } from './path-info.js';
import type { PathInfoService } from './path-info-service.js';

/** The pino method we use, so the service can take Fastify's logger or a child of it. */
export interface SigningLog {
  warn(fields: object, message: string): void;
}

/**
 * Signs once, on `put`, and stores the result, so serving a narinfo costs no signing. A PathInfo stored
 * before a key was configured is signed on its first `get` and written back, so it too is signed once.
 */
export class SigningPathInfoService implements PathInfoService {
  /** Per store path, the write in progress: a write-back must not replace a PathInfo put meanwhile. */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(
    private readonly inner: PathInfoService,
    private readonly keys: readonly SigningKey[],
    private readonly log?: SigningLog,
  ) {}

  async get(digest: Uint8Array, opts?: CallOptions): Promise<PathInfo | null> {
    const info = await this.inner.get(digest, opts);
    if (!info || this.complete(info)) return info;
    return this.serially(digest, async () => {
      // Read again inside the turn: a put that ran while we waited wins, and is signed already.
      const current = await this.inner.get(digest, opts);
      if (!current || this.complete(current)) return current;
      const signed = this.signed(current);
      // A failed write-back (a full disk, a read-only far store) must not fail the read: we sign again next time.
      await this.inner.put(signed, opts).catch((err: unknown) => this.log?.warn({ err, storePath: signed.storePath.basename }, 'could not keep our signature'));
      return signed;
    });
  }

  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.serially(info.storePath.digest, () => this.inner.put(this.signed(info), opts));
  }

  /** Signed on the fly: listings are rare, and writing while the inner service iterates is not ours to risk. */
  async *list(opts?: CallOptions): AsyncIterable<PathInfo> {
    for await (const info of this.inner.list(opts)) yield this.complete(info) ? info : this.signed(info);
  }

  private complete(info: PathInfo): boolean {
    return this.keys.every((key) => info.signatures.some((sig) => sig.keyName === key.name));
  }

  /** Runs `work` after every earlier write for the same store path has settled. */
  private async serially<T>(digest: Uint8Array, work: () => Promise<T>): Promise<T> {
    const key = Buffer.from(digest).toString('hex');
    const before = this.#writes.get(key) ?? Promise.resolve();
    const turn = before.then(work);
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.#writes.set(key, settled);
    try {
      return await turn;
    } finally {
      if (this.#writes.get(key) === settled) this.#writes.delete(key);
    }
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
