// Public surface of the streaming NAR reader and writer.

export type { NarEvent, NarOutputEvent } from './events.js';
export { DEFAULT_NAR_LIMITS, readNar, type NarLimits } from './reader.js';
export { writeNar } from './writer.js';
export { narStringLength } from './tokens.js';
export { NAR_FRAMING } from './framing.js';
