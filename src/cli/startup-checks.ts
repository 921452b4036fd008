// What `serve` checks before it answers anyone: that the store can be written (a cache that silently refuses every
// push is worse than one that does not start), and settings that are allowed but almost certainly a mistake.
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isEnoent, NarBridgeError } from '../errors.js';
import type { Trust } from './load-trust.js';
import type { TrustSettings } from './trust-settings.js';

/** The embedded store's entries (open-store.ts); any that exist must be writable, as must the data dir itself. */
const STORE_ENTRIES = ['meta.sqlite', 'meta.sqlite-wal', 'meta.sqlite-shm', 'blobs', 'chunks'];

/** Creates the data dir if needed and checks that the store in it can be written; fails with a one-line reason. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  const existing = await stat(dataDir).catch(() => null);
  if (existing && !existing.isDirectory()) throw new NarBridgeError('NB_ERR_CONFIG', `data dir ${dataDir} is not a directory`);
  await mkdir(dataDir, { recursive: true });
  await storeWritable(dataDir);
}

/**
 * Throws NB_ERR_STORAGE naming the first part of the store this process may not write. Also /readyz's check, so a
 * store that becomes read-only later (remount, chown) takes the server out of rotation instead of failing pushes.
 */
export async function storeWritable(dataDir: string): Promise<void> {
  for (const path of [dataDir, ...STORE_ENTRIES.map((entry) => join(dataDir, entry))]) {
    try {
      await access(path, constants.W_OK);
    } catch (err) {
      if (path !== dataDir && isEnoent(err)) continue;
      throw new NarBridgeError('NB_ERR_STORAGE', `data dir ${dataDir} is not writable: ${path}`, { cause: err });
    }
  }
}

interface StartupWarning {
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/** Settings that start a server which will not do what its operator most likely wants. */
export async function startupWarnings(settings: TrustSettings, trust: Trust): Promise<StartupWarning[]> {
  const warnings: StartupWarning[] = [];
  if (settings.requireSignedUploads && settings.trustedPublicKeys.length === 0 && trust.signingKeys.length === 0) {
    warnings.push({
      fields: {},
      msg: '--require-signed-uploads with no --trusted-public-keys and no --signing-key-file: every push of an input-addressed path will be refused',
    });
  }
  if (settings.tokensFile !== null && trust.access) {
    const mode = (await stat(settings.tokensFile)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      warnings.push({ fields: { tokensFile: settings.tokensFile, mode: mode.toString(8) }, msg: 'tokens file is readable by group or others: chmod 600 it' });
    }
    const both = trust.access.tokens.listedAsBoth();
    if (both > 0) {
      warnings.push({ fields: { tokensFile: settings.tokensFile, tokens: both }, msg: 'tokens listed as both read and write: they grant write' });
    }
  }
  return warnings;
}
