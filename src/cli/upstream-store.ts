// The upstream caches of --upstream, as composeStore puts them behind the store's PathInfoService.
import { BinaryCacheClient, type StoreComposition, type UpstreamLog, type UpstreamObserver } from '../store/index.js';
import type { CompositionSettings } from './composition-settings.js';

export function upstreamComposition(
  settings: CompositionSettings,
  observer: UpstreamObserver,
  log: UpstreamLog,
): Pick<StoreComposition, 'upstreams' | 'upstreamSettings'> {
  return {
    upstreams: settings.upstreams.map((cache) => new BinaryCacheClient(cache)),
    upstreamSettings: { missTtlMs: settings.upstreamMissTtlMs, observer, log },
  };
}
