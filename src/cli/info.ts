// `nar-bridge info`: what the embedded store holds, and how much deduplication saves.
import { parseArgs } from 'node:util';
import { formatBytes } from './progress.js';
import { configuredStoreSettings, requireStore } from './configured-store.js';
import { openLocalStore } from './open-store.js';
import { CONFIG_OPTION } from './settings.js';

export const INFO_USAGE = `usage: nar-bridge info [--json] [--data-dir DIR] [--config FILE]

  Counts (path infos, directories, blobs), sizes, and the deduplication ratio: bytes of the NARs the store
  represents over bytes of blobs it keeps.
`;

interface InfoIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
}

export async function infoCommand(args: readonly string[], io: InfoIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: { json: { type: 'boolean' }, 'data-dir': { type: 'string' }, ...CONFIG_OPTION } });
  // Only the embedded store's data dir: its counts come from there (service URLs are not measured).
  const { dataDir } = configuredStoreSettings(values, io.env);
  requireStore(dataDir);
  const local = await openLocalStore(dataDir);
  try {
    const stats = await local.stats();
    const { narBytes } = stats;
    // Null for an empty store: there is nothing to deduplicate yet.
    const dedupRatio = stats.blobBytes > 0 ? narBytes / stats.blobBytes : null;
    const summary = { dataDir, ...stats, dedupRatio };
    if (values.json) {
      io.stdout(`${JSON.stringify(summary)}\n`);
    } else {
      io.stdout(
        [
          `data dir     ${dataDir}`,
          `path infos   ${stats.pathInfos}`,
          `directories  ${stats.directories}`,
          `blobs        ${stats.blobs} (${formatBytes(stats.blobBytes)})`,
          `NARs         ${formatBytes(narBytes)} represented`,
          `dedup ratio  ${dedupRatio === null ? '-' : `${dedupRatio.toFixed(2)}x`} (NAR bytes / blob bytes)`,
          `on disk      ${formatBytes(stats.diskBytes)}`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    local.close();
  }
  return 0;
}
