// Route schemas shared by several endpoints.

/** A store path's 32-character nixbase32 hash part (the alphabet has no e, o, u, t). */
export const HASH_PART_PATTERN = '[0-9a-df-np-sv-z]{32}';

/** `:hash` is a store path's hash part. */
export const HASH_PART_PARAMS = {
  type: 'object',
  properties: { hash: { type: 'string', pattern: `^${HASH_PART_PATTERN}$` } },
  required: ['hash'],
} as const;
