// The errors src/nix parsers throw, and relabelling a nested parser's error for the format around it.
import { type ErrorCode, NarBridgeError } from '../errors.js';

/** A narinfo, realisation, store path, signature or content address that does not parse. */
export function malformed(message: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_NARINFO_MALFORMED', message);
}

/** A hash, digest or nix-base32 string that does not parse. */
export function invalidDigest(message: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_INVALID_DIGEST', message);
}

/** Runs `parse`; a NarBridgeError it throws comes back as `code`, its message prefixed with `context`. */
export function withErrorCode<T>(code: ErrorCode, context: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!NarBridgeError.is(err)) throw err;
    throw new NarBridgeError(code, `${context}: ${err.message}`, { cause: err });
  }
}
