// Narinfo `CA:` values: how a content-addressed path's hash was computed (libstore/content-address.cc).
import { NixHash } from './hash.js';
import { malformed, withErrorCode } from './parse-errors.js';

/** text: `builtins.toFile`-style text, sha256 only; flat: a single file's bytes; nar: the NAR serialisation. */
type ContentAddressMethod = 'text' | 'flat' | 'nar';

export interface ContentAddress {
  readonly method: ContentAddressMethod;
  readonly hash: NixHash;
}

/** The prefix Nix writes before `<algo>:<hash>` for each method. */
const PREFIX: Readonly<Record<ContentAddressMethod, string>> = { text: 'text:', flat: 'fixed:', nar: 'fixed:r:' };

// 'fixed:r:' is tried before 'fixed:', which is a prefix of it.
const METHODS_LONGEST_PREFIX_FIRST: readonly ContentAddressMethod[] = ['text', 'nar', 'flat'];

// Like Nix, the hash must be `<algo>:<hash>` (any of nix-base32, base16 or base64), never SRI.
const PREFIXED_HASH = /^[a-z0-9]+:/;

export function parseContentAddress(text: string): ContentAddress {
  const method = METHODS_LONGEST_PREFIX_FIRST.find((m) => text.startsWith(PREFIX[m]));
  if (method === undefined) throw malformed('content address must start with "text:" or "fixed:"');
  const rest = text.slice(PREFIX[method].length);
  if (!PREFIXED_HASH.test(rest)) throw malformed('content address hash must be "<algo>:<hash>"');
  const hash = withErrorCode('NB_ERR_NARINFO_MALFORMED', 'content address', () => NixHash.parse(rest));
  if (method === 'text' && hash.algo !== 'sha256') throw malformed('text content address must use sha256');
  return { method, hash };
}

export function formatContentAddress(ca: ContentAddress): string {
  return `${PREFIX[ca.method]}${ca.hash.toString()}`;
}
