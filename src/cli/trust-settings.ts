// The trust and limits flags of `serve` (signing, upload policy, access control, upload limits) and
// their NAR_BRIDGE_* variables, parsed and checked; reading the files they name is load-trust.ts's job.
import { NarBridgeError } from '../errors.js';
import { DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_NARINFO_BYTES, DEFAULT_UPLOAD_IDLE_TIMEOUT_MS, type HttpLimits } from '../http/index.js';
import { DEFAULT_NAR_LIMITS } from '../nar/index.js';
import { DEFAULT_MAX_DECOMPRESSION_RATIO, DEFAULT_MAX_NAR_SIZE } from '../store/index.js';

export interface TrustSettings {
  readonly signingKeyFiles: readonly string[];
  readonly trustedPublicKeys: readonly string[];
  readonly requireSignedUploads: boolean;
  readonly tokensFile: string | null;
  readonly privateReads: boolean;
  readonly limits: HttpLimits;
}

/** Spread into `serve`'s parseArgs options. */
export const TRUST_OPTIONS = {
  'signing-key-file': { type: 'string', multiple: true },
  'trusted-public-keys': { type: 'string' },
  'require-signed-uploads': { type: 'boolean' },
  'tokens-file': { type: 'string' },
  'private-reads': { type: 'boolean' },
  'max-nar-size': { type: 'string' },
  'max-narinfo-size': { type: 'string' },
  'max-decompression-ratio': { type: 'string' },
  'max-depth': { type: 'string' },
  'max-entries-per-directory': { type: 'string' },
  'upload-idle-timeout': { type: 'string' },
  'max-concurrent-uploads': { type: 'string' },
} as const;

/** What parseArgs yields for TRUST_OPTIONS. */
interface TrustValues {
  readonly 'signing-key-file'?: string[];
  readonly 'trusted-public-keys'?: string;
  readonly 'require-signed-uploads'?: boolean;
  readonly 'tokens-file'?: string;
  readonly 'private-reads'?: boolean;
  readonly 'max-nar-size'?: string;
  readonly 'max-narinfo-size'?: string;
  readonly 'max-decompression-ratio'?: string;
  readonly 'max-depth'?: string;
  readonly 'max-entries-per-directory'?: string;
  readonly 'upload-idle-timeout'?: string;
  readonly 'max-concurrent-uploads'?: string;
}
type NumberFlag =
  | 'max-nar-size'
  | 'max-narinfo-size'
  | 'max-decompression-ratio'
  | 'max-depth'
  | 'max-entries-per-directory'
  | 'upload-idle-timeout'
  | 'max-concurrent-uploads';

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function trustSettings(values: TrustValues, env: NodeJS.ProcessEnv): TrustSettings {
  const words = (text: string | undefined) => (text ?? '').split(/\s+/).filter((w) => w !== '');
  const flag = (value: boolean | undefined, name: string) => value ?? ['1', 'true', 'yes'].includes(env[name] ?? '');
  const number = (key: NumberFlag, envName: string, fallback: number, parse = parseCount) => {
    const text = values[key] ?? env[envName];
    return text === undefined || text === '' ? fallback : parse(`--${key}`, text);
  };
  return {
    signingKeyFiles: values['signing-key-file'] ?? words(env.NAR_BRIDGE_SIGNING_KEY_FILE),
    trustedPublicKeys: words(values['trusted-public-keys'] ?? env.NAR_BRIDGE_TRUSTED_PUBLIC_KEYS),
    requireSignedUploads: flag(values['require-signed-uploads'], 'NAR_BRIDGE_REQUIRE_SIGNED_UPLOADS'),
    tokensFile: values['tokens-file'] ?? (env.NAR_BRIDGE_TOKENS_FILE || null),
    privateReads: flag(values['private-reads'], 'NAR_BRIDGE_PRIVATE_READS'),
    limits: {
      upload: {
        maxNarSize: number('max-nar-size', 'NAR_BRIDGE_MAX_NAR_SIZE', DEFAULT_MAX_NAR_SIZE, parseBytes),
        maxDecompressionRatio: number('max-decompression-ratio', 'NAR_BRIDGE_MAX_DECOMPRESSION_RATIO', DEFAULT_MAX_DECOMPRESSION_RATIO),
        nar: {
          ...DEFAULT_NAR_LIMITS,
          maxDepth: number('max-depth', 'NAR_BRIDGE_MAX_DEPTH', DEFAULT_NAR_LIMITS.maxDepth),
          maxEntriesPerDirectory: number('max-entries-per-directory', 'NAR_BRIDGE_MAX_ENTRIES_PER_DIRECTORY', DEFAULT_NAR_LIMITS.maxEntriesPerDirectory),
        },
      },
      maxNarInfoBytes: number('max-narinfo-size', 'NAR_BRIDGE_MAX_NARINFO_SIZE', DEFAULT_MAX_NARINFO_BYTES, parseBytes),
      uploadIdleTimeoutMs: number('upload-idle-timeout', 'NAR_BRIDGE_UPLOAD_IDLE_TIMEOUT', DEFAULT_UPLOAD_IDLE_TIMEOUT_MS / 1000) * 1000,
      maxConcurrentUploads: number('max-concurrent-uploads', 'NAR_BRIDGE_MAX_CONCURRENT_UPLOADS', DEFAULT_MAX_CONCURRENT_UPLOADS),
    },
  };
}

function parseCount(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new NarBridgeError('NB_ERR_CONFIG', `${flag} must be a positive integer`);
  return value;
}

/** A byte count, optionally with a binary suffix: 512K, 64M, 8G. */
export function parseBytes(flag: string, text: string): number {
  const match = /^(\d+)([KMGT]?)$/i.exec(text);
  const value = Number(match?.[1]) * (UNITS[match?.[2]?.toUpperCase() ?? ''] ?? Number.NaN);
  if (!Number.isSafeInteger(value) || value < 1) throw new NarBridgeError('NB_ERR_CONFIG', `${flag} must be a byte count like 1048576, 512K, 64M or 8G`);
  return value;
}
