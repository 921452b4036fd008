// Reads the files the trust settings name (secret keys, tokens) and turns the settings into the
// signing keys, upload policy and access control the server is built with.
import { readFile } from 'node:fs/promises';
import { NarBridgeError } from '../errors.js';
import type { AccessControl } from '../http/index.js';
import { AccessTokens } from '../http/index.js';
import { PublicKey, SigningKey } from '../nix/index.js';
import type { UploadPolicy } from '../store/index.js';
import type { TrustSettings } from './trust-settings.js';

export interface Trust {
  readonly signingKeys: readonly SigningKey[];
  readonly uploadPolicy: UploadPolicy;
  readonly access: AccessControl | null;
}

export async function loadTrust(settings: TrustSettings): Promise<Trust> {
  const signingKeys = await Promise.all(settings.signingKeyFiles.map(async (file) => parseSigningKeyFile(await readConfigFile(file, 'signing key'), file)));
  const trusted = settings.trustedPublicKeys.map((text) => PublicKey.parse(text));
  if (settings.privateReads && !settings.tokensFile) throw new NarBridgeError('NB_ERR_CONFIG', '--private-reads needs --tokens-file');
  return {
    signingKeys,
    // Our own keys count as trusted: a narinfo carrying our valid signature is one we already vouched for.
    uploadPolicy: { trustedKeys: [...trusted, ...signingKeys.map((key) => key.publicKey())], requireSigned: settings.requireSignedUploads },
    access: settings.tokensFile
      ? { tokens: AccessTokens.parse(await readConfigFile(settings.tokensFile, 'tokens')), privateReads: settings.privateReads }
      : null,
  };
}

async function readConfigFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new NarBridgeError('NB_ERR_CONFIG', `cannot read ${what} file ${file}`, { cause: err });
  }
}

/** A secret key file's contents as a key; a malformed one is reported with the file's name. */
export function parseSigningKeyFile(text: string, file: string): SigningKey {
  try {
    return SigningKey.parse(text);
  } catch (err) {
    if (!NarBridgeError.is(err)) throw err;
    throw new NarBridgeError('NB_ERR_CONFIG', `secret key file ${file}: ${err.message}`, { cause: err });
  }
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
