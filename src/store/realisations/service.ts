// Realisations of content-addressed derivation outputs (`realisations/<id>.doi`): which store path each output
// was built to. Like a store path's contents, that answer never changes once given; only signatures may grow.
import type { CallOptions } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { fingerprintRealisation, makeRealisation, type DrvOutputId, type Realisation } from '../../nix/index.js';
import { signedByTrustedKey, trustedKeyNames, type UploadPolicy } from '../pathinfo/policy.js';

export interface RealisationService {
  get(id: DrvOutputId, opts?: CallOptions): Promise<Realisation | null>;
  /** Stores `realisation`, merged with one already stored for its id (mergeRealisations); returns what is now stored. */
  put(realisation: Realisation, opts?: CallOptions): Promise<Realisation>;
}

/**
 * What to store when `incoming` arrives for an id that may already have `stored`: the same output path adds its
 * signatures, another output path is refused (as Nix's own LocalStore::registerDrvOutput refuses it). The stored
 * dependentRealisations stay: they were part of what the first signatures signed.
 */
export function mergeRealisations(stored: Realisation | null, incoming: Realisation): Realisation {
  if (stored === null) return incoming;
  if (!stored.outPath.equals(incoming.outPath)) {
    throw new NarBridgeError('NB_ERR_FORBIDDEN', `${incoming.id.toString()} is already realised as ${stored.outPath.basename}`);
  }
  return makeRealisation({ ...stored, signatures: [...stored.signatures, ...incoming.signatures] });
}

/**
 * Throws NB_ERR_FORBIDDEN unless `realisation` may be stored under `policy`. With signed uploads required it must
 * carry a trusted signature: unlike a CA path, nothing we hold can show which path a derivation builds to, and
 * Nix 2.8 substitutes from a realisation without checking its signatures.
 */
export function checkRealisationPolicy(realisation: Realisation, policy: UploadPolicy): void {
  if (!policy.requireSigned) return;
  if (signedByTrustedKey(fingerprintRealisation(realisation), realisation.signatures, policy)) return;
  throw new NarBridgeError('NB_ERR_FORBIDDEN', `realisation ${realisation.id.toString()} is not signed by a trusted key (${trustedKeyNames(policy)})`);
}

/** The upload policy in front of a RealisationService, as GuardedPathInfoService is in front of path infos. */
export class GuardedRealisationService implements RealisationService {
  constructor(
    private readonly inner: RealisationService,
    private readonly policy: UploadPolicy,
  ) {}

  get(id: DrvOutputId, opts?: CallOptions): Promise<Realisation | null> {
    return this.inner.get(id, opts);
  }

  async put(realisation: Realisation, opts?: CallOptions): Promise<Realisation> {
    checkRealisationPolicy(realisation, this.policy);
    return this.inner.put(realisation, opts);
  }
}
