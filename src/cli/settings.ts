// Command-line flags and NAR_BRIDGE_* environment variables → validated settings. Flags win over env.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { parseListenAddress, type ListenAddress } from './listen-address.js';

export interface ServeSettings {
  readonly listen: ListenAddress;
  readonly dataDir: string;
  readonly priority: number;
  readonly logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function serveSettings(args: readonly string[], env: NodeJS.ProcessEnv): ServeSettings {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      priority: { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const priority = Number(values.priority ?? env.NAR_BRIDGE_PRIORITY ?? 40);
  if (!Number.isInteger(priority) || priority < 0) throw new NarBridgeError('NB_ERR_CONFIG', '--priority must be a non-negative integer');
  const logLevel = values['log-level'] ?? env.NAR_BRIDGE_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new NarBridgeError('NB_ERR_CONFIG', `--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    listen: parseListenAddress(values.listen ?? env.NAR_BRIDGE_LISTEN ?? '127.0.0.1:9000'),
    dataDir: values['data-dir'] ?? env.NAR_BRIDGE_DATA_DIR ?? defaultDataDir(env),
    priority,
    logLevel,
  };
}

function defaultDataDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'nar-bridge');
}
