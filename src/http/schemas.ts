// Route schemas shared by several endpoints.

/** `:hash` is a store path's 32-character nixbase32 hash part (the alphabet has no e, o, u, t). */
export const HASH_PART_PARAMS = {
  type: 'object',
  properties: { hash: { type: 'string', pattern: '^[0-9a-df-np-sv-z]{32}$' } },
  required: ['hash'],
} as const;
