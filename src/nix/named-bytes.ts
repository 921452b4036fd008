// The `<key name>:<base64>` spelling Nix uses for signatures, public keys and secret keys.
import { type ErrorCode, NarBridgeError } from '../errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';

/** What is being parsed (for messages), how long its bytes must be, and the code to fail with. */
export interface NamedBytesKind {
  readonly what: string;
  readonly length: number;
  readonly code: ErrorCode;
}

export interface NamedBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

// Nix only forbids ':' in key names. We also refuse spaces and control characters: no real key name
// has them, and they would let a name break a narinfo line or a key file.
const KEY_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** Checks a name and byte length; returns the name with its own copy of the bytes. */
export function checkNamedBytes(kind: NamedBytesKind, name: string, bytes: Uint8Array): NamedBytes {
  if (!KEY_NAME.test(name)) {
    throw new NarBridgeError(kind.code, `${kind.what} key name must be printable ASCII without ':' or spaces`);
  }
  if (bytes.length !== kind.length) {
    throw new NarBridgeError(kind.code, `${kind.what} must be ${kind.length} bytes, got ${bytes.length}`);
  }
  return { name, bytes: new Uint8Array(bytes) }; // a copy, even of a Buffer
}

export function parseNamedBytes(kind: NamedBytesKind, text: string): NamedBytes {
  const colon = text.indexOf(':');
  if (colon < 0) throw new NarBridgeError(kind.code, `${kind.what} must be "<key name>:<base64>"`);
  const bytes = decodeBase64(text.slice(colon + 1));
  if (bytes === null) throw new NarBridgeError(kind.code, `${kind.what} is not valid base64`);
  return checkNamedBytes(kind, text.slice(0, colon), bytes);
}

export function formatNamedBytes(name: string, bytes: Uint8Array): string {
  return `${name}:${encodeBase64(bytes)}`;
}
