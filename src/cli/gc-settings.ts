// The garbage-collection flags of `serve` (and the retention flags `nar-bridge gc` shares with it).
import { NarBridgeError } from '../errors.js';
import { DEFAULT_UPLOAD_GRACE_MS, type RetentionPolicy } from '../store/index.js';
import type { OptionValues } from './config-file.js';
import { parseBytes } from './trust-settings.js';

export const RETENTION_OPTIONS = {
  'gc-max-size': { type: 'string' },
  'gc-max-age': { type: 'string' },
  'gc-upload-grace': { type: 'string' },
  'gc-object-grace': { type: 'string' },
} as const;

export const GC_OPTIONS = { 'gc-interval': { type: 'string' }, ...RETENTION_OPTIONS } as const;

export interface GcSettings {
  /** Run GC in the background this often; null: never. */
  readonly intervalMs: number | null;
  readonly retention: RetentionPolicy;
  readonly uploadGraceMs: number;
  /** Blobs and Directories nothing refers to yet are kept this long after they were written (gRPC clients). */
  readonly objectGraceMs: number;
}

/** What an unset grace flag means; it depends on who may be writing. */
export interface GraceDefaults {
  readonly uploadGraceMs: number;
  readonly objectGraceMs: number;
}

/**
 * A server's: an unclaimed NAR may be a push half-way for a day; with gRPC, objects may wait an hour for the PathInfo
 * naming them (HTTP writes are covered by their upload records).
 */
export function serverGraceDefaults(grpc: boolean): GraceDefaults {
  return { uploadGraceMs: DEFAULT_UPLOAD_GRACE_MS, objectGraceMs: grpc ? DEFAULT_OBJECT_GRACE_MS : 0 };
}

const DEFAULT_OBJECT_GRACE_MS = 60 * 60 * 1000;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like 500ms, 30s, 10m, 6h or 7d. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  const value = Number(match?.[1]) * (DURATION_UNITS[match?.[2] ?? ''] ?? Number.NaN);
  if (!Number.isSafeInteger(value)) throw new NarBridgeError('NB_ERR_CONFIG', `${flag} must be a duration like 30s, 10m, 6h or 7d`);
  return value;
}

export function retentionSettings(
  values: OptionValues<typeof RETENTION_OPTIONS>,
  env: NodeJS.ProcessEnv,
  defaults: GraceDefaults,
): Omit<GcSettings, 'intervalMs'> {
  const maxSize = values['gc-max-size'] ?? env.NAR_BRIDGE_GC_MAX_SIZE;
  const maxAge = values['gc-max-age'] ?? env.NAR_BRIDGE_GC_MAX_AGE;
  const grace = values['gc-upload-grace'] ?? env.NAR_BRIDGE_GC_UPLOAD_GRACE;
  const objectGrace = values['gc-object-grace'] ?? env.NAR_BRIDGE_GC_OBJECT_GRACE;
  return {
    retention: {
      ...(maxSize === undefined ? {} : { maxSizeBytes: parseBytes('--gc-max-size', maxSize) }),
      ...(maxAge === undefined ? {} : { maxAgeMs: parseDuration('--gc-max-age', maxAge) }),
    },
    uploadGraceMs: grace === undefined ? defaults.uploadGraceMs : parseDuration('--gc-upload-grace', grace),
    objectGraceMs: objectGrace === undefined ? defaults.objectGraceMs : parseDuration('--gc-object-grace', objectGrace),
  };
}

export function gcSettings(values: OptionValues<typeof GC_OPTIONS>, env: NodeJS.ProcessEnv, grpc: boolean): GcSettings {
  const interval = values['gc-interval'] ?? env.NAR_BRIDGE_GC_INTERVAL;
  const intervalMs = interval === undefined ? null : parseDuration('--gc-interval', interval);
  if (intervalMs !== null && intervalMs < 1000) throw new NarBridgeError('NB_ERR_CONFIG', '--gc-interval must be at least 1s');
  return { intervalMs, ...retentionSettings(values, env, serverGraceDefaults(grpc)) };
}
