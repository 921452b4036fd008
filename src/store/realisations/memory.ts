// RealisationService held in a Map: for tests and `memory://`.
import type { DrvOutputId, Realisation } from '../../nix/index.js';
import { mergeRealisations, type RealisationService } from './service.js';

export class MemoryRealisationService implements RealisationService {
  readonly #realisations = new Map<string, Realisation>();

  async get(id: DrvOutputId): Promise<Realisation | null> {
    return this.#realisations.get(id.toString()) ?? null;
  }

  async put(realisation: Realisation): Promise<Realisation> {
    const key = realisation.id.toString();
    const merged = mergeRealisations(this.#realisations.get(key) ?? null, realisation);
    this.#realisations.set(key, merged);
    return merged;
  }
}
