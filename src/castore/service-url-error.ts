// The one error a bad service URL gives. URLs may carry a password (postgresql://user:secret@host/db), so messages
// and logs only ever show them redacted.
import { NarBridgeError } from '../errors.js';

/** The URL text with any password replaced by `***`; works on text that does not even parse as a URL. */
export function redactUrlPassword(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*@/i, '$1***@');
}

export function serviceUrlError(raw: string, why: string, cause?: unknown): NarBridgeError {
  return new NarBridgeError('NB_ERR_CONFIG', `service URL '${redactUrlPassword(raw)}': ${why}`, cause === undefined ? undefined : { cause });
}
