// `nar-bridge migrate`: creates or upgrades the PostgreSQL schema ahead of a rollout, so the replicas' own role needs no
// CREATE rights (serve also migrates at startup when it may).
import { parseArgs } from 'node:util';
import { redactUrlPassword } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { isPostgresUrl } from './postgres-metadata.js';
import { configuredStoreSettings, STORE_COMMAND_OPTIONS } from './configured-store.js';
import { openStoreOverrides } from './service-overrides.js';

export const MIGRATE_USAGE = `usage: nar-bridge migrate [--config FILE] [--directory-service-addr URL] [--path-info-service-addr URL]

  Creates or upgrades the tables of the PostgreSQL services named (postgresql://…), as serve would at startup.
`;

export interface MigrateIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
}

export async function migrateCommand(args: readonly string[], io: MigrateIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: STORE_COMMAND_OPTIONS });
  const settings = configuredStoreSettings(values, io.env);
  const inPostgres = (url: string | null) => (url !== null && isPostgresUrl(url) ? url : null);
  const directories = inPostgres(settings.directoryServiceAddr);
  const pathInfos = inPostgres(settings.pathInfoServiceAddr);
  if (directories === null && pathInfos === null) {
    throw new NarBridgeError('NB_ERR_CONFIG', 'migrate needs --directory-service-addr or --path-info-service-addr naming a PostgreSQL database');
  }
  // Opening a PostgreSQL service migrates its tables; nothing else is opened.
  const opened = await openStoreOverrides({ ...settings, blobServiceAddr: null, directoryServiceAddr: directories, pathInfoServiceAddr: pathInfos });
  opened.close();
  for (const url of new Set([directories, pathInfos])) if (url !== null) io.stdout(`schema up to date: ${redactUrlPassword(url)}\n`);
  return 0;
}
