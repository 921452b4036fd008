// The only place HTTP statuses are chosen for our errors. Uploads get their own table: Nix 2.8 retries
// and then hangs forever on a PUT answered with 5xx, 202, 408 or 429 (nix-http-protocol.md §8.3).
import type { ErrorCode } from '../errors.js';

const READ_STATUS: Record<ErrorCode, number> = {
  NB_ERR_NAR_MALFORMED: 400,
  NB_ERR_NARINFO_MALFORMED: 400,
  NB_ERR_INVALID_NAME: 400,
  NB_ERR_INVALID_DIGEST: 400,
  NB_ERR_INVALID_NODE: 400,
  NB_ERR_HASH_MISMATCH: 400,
  NB_ERR_TOO_LARGE: 413,
  NB_ERR_GRAPH_INCOMPLETE: 400,
  NB_ERR_MISSING_OBJECT: 404,
  NB_ERR_NOT_FOUND: 404,
  NB_ERR_UNSUPPORTED: 400,
  NB_ERR_UNAUTHENTICATED: 401,
  NB_ERR_FORBIDDEN: 403,
  NB_ERR_CONFLICT: 409,
  NB_ERR_TIMEOUT: 408,
  NB_ERR_UPSTREAM: 502,
  NB_ERR_STORAGE: 500,
  NB_ERR_CONFIG: 500,
};

/** Every refusal is 400, 401, 403 or 413, which Nix reports cleanly with our message. */
const UPLOAD_STATUS: Record<ErrorCode, 400 | 401 | 403 | 413> = {
  NB_ERR_NAR_MALFORMED: 400,
  NB_ERR_NARINFO_MALFORMED: 400,
  NB_ERR_INVALID_NAME: 400,
  NB_ERR_INVALID_DIGEST: 400,
  NB_ERR_INVALID_NODE: 400,
  NB_ERR_HASH_MISMATCH: 400,
  NB_ERR_TOO_LARGE: 413,
  NB_ERR_GRAPH_INCOMPLETE: 400,
  NB_ERR_MISSING_OBJECT: 400,
  NB_ERR_NOT_FOUND: 400,
  NB_ERR_UNSUPPORTED: 400,
  // Nix 2.8 reports 401 on a PUT cleanly (no retry), with our WWW-Authenticate and message.
  NB_ERR_UNAUTHENTICATED: 401,
  NB_ERR_FORBIDDEN: 403,
  NB_ERR_CONFLICT: 400,
  // Never 408 on a PUT: Nix retries it and hangs (nix-http-protocol.md §8.3).
  NB_ERR_TIMEOUT: 400,
  NB_ERR_UPSTREAM: 403,
  NB_ERR_STORAGE: 403,
  NB_ERR_CONFIG: 403,
};

/** Status for an error of ours; `null` code means an unexpected error. */
export function statusFor(code: ErrorCode | null, isUpload: boolean): number {
  if (isUpload) return code ? UPLOAD_STATUS[code] : 403;
  return code ? READ_STATUS[code] : 500;
}
