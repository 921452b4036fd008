// Puts the upstream caches of --upstream behind the store's PathInfoService: a narinfo miss is pulled through.
import { BinaryCacheClient, UpstreamPathInfoService, type Store, type UpstreamLog, type UpstreamObserver } from '../store/index.js';
import type { CompositionSettings } from './composition-settings.js';

export function withUpstreams(store: Store, settings: CompositionSettings, observer: UpstreamObserver, log: UpstreamLog): Store {
  if (settings.upstreams.length === 0) return store;
  const clients = settings.upstreams.map((cache) => new BinaryCacheClient(cache));
  return { ...store, pathInfos: new UpstreamPathInfoService(store.pathInfos, store, clients, { missTtlMs: settings.upstreamMissTtlMs, observer, log }) };
}
