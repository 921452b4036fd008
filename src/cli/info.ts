// `nar-bridge info`: what the store holds, and how much deduplication saves.
import { parseArgs } from 'node:util';
import { formatBytes } from './progress.js';
import { configuredStoreSettings, openConfiguredStore, STORE_COMMAND_OPTIONS, STORE_COMMAND_USAGE } from './configured-store.js';

export const INFO_USAGE = `usage: nar-bridge info [--json]

  Counts (path infos, directories, blobs), sizes, and the deduplication ratio: bytes of the NARs the store
  represents over bytes of blobs it keeps. Counts come from the services named (PostgreSQL and the S3 object
  index too); disk use is the data dir's.
  ${STORE_COMMAND_USAGE}
`;

interface InfoIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
}

export async function infoCommand(args: readonly string[], io: InfoIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: { json: { type: 'boolean' }, ...STORE_COMMAND_OPTIONS } });
  const { dataDir } = configuredStoreSettings(values, io.env);
  const configured = await openConfiguredStore(values, io.env, { existing: true });
  try {
    const stats = await configured.stats();
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
    await configured.close();
  }
  return 0;
}
