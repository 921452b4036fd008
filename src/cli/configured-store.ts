// The store as `serve` would open it (--data-dir, --*-service-addr, --config and their variables), for the commands
// that read or write it directly without a server: import, export, ls, cat, info.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NarBridgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import { withConfigFile, type OptionValues } from './config-file.js';
import { openLocalStore } from './open-store.js';
import { openStoreOverrides } from './service-overrides.js';
import { CONFIG_OPTION, SERVE_OPTIONS, STORE_OPTIONS, storeSettings, type StoreSettings } from './settings.js';
import type { StoreTotals } from './store-stats.js';

/** Spread into a store command's parseArgs options. */
export const STORE_COMMAND_OPTIONS = { ...STORE_OPTIONS, ...CONFIG_OPTION } as const;

export const STORE_COMMAND_USAGE = `--data-dir DIR, --blob-service-addr URL, --directory-service-addr URL, --path-info-service-addr URL and
  --config FILE (and their NAR_BRIDGE_* variables) name the store as for serve.`;

interface ConfiguredStore {
  readonly store: Store;
  /** Counts and sizes of what the store's services hold, measured now. */
  stats(): Promise<StoreTotals>;
  close(): Promise<void>;
}

/** The store's settings from a store command's flags, the environment and the config file, as serve reads them. */
export function configuredStoreSettings(values: OptionValues<typeof STORE_COMMAND_OPTIONS>, env: NodeJS.ProcessEnv): StoreSettings {
  // Checked against every serve key, so the server's config file works here unchanged.
  return storeSettings(withConfigFile(SERVE_OPTIONS, values, values.config ?? env.NAR_BRIDGE_CONFIG, env), env);
}

/** `existing`: the command only reads, so a store that is not there is refused rather than created empty. */
export async function openConfiguredStore(
  values: OptionValues<typeof STORE_COMMAND_OPTIONS>,
  env: NodeJS.ProcessEnv,
  { existing = false } = {},
): Promise<ConfiguredStore> {
  const settings = configuredStoreSettings(values, env);
  if (existing && (settings.blobServiceAddr === null || settings.directoryServiceAddr === null || settings.pathInfoServiceAddr === null))
    requireStore(settings.dataDir);
  return openStore(settings);
}

/** The store `settings` name, opened as serve opens it (the data dir created if need be). */
export async function openStore(settings: StoreSettings): Promise<ConfiguredStore> {
  const overrides = await openStoreOverrides(settings);
  try {
    const local = await openLocalStore(settings.dataDir, overrides.services);
    return {
      store: local.store,
      stats: local.stats,
      close: async () => {
        await local.close();
        overrides.close();
      },
    };
  } catch (err) {
    overrides.close();
    throw err;
  }
}

/** Refuses a data dir holding no embedded store (most likely a mistyped --data-dir), without creating anything. */
export function requireStore(dataDir: string): void {
  if (!existsSync(join(dataDir, 'meta.sqlite'))) throw new NarBridgeError('NB_ERR_CONFIG', `no store at ${dataDir}`);
}
