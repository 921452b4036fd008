// The one error type every layer throws; edges (src/http, src/grpc) map `code` to a status.

export type ErrorCode =
  | 'NB_ERR_NAR_MALFORMED'
  | 'NB_ERR_NARINFO_MALFORMED'
  | 'NB_ERR_INVALID_NAME'
  | 'NB_ERR_INVALID_DIGEST'
  | 'NB_ERR_INVALID_NODE'
  | 'NB_ERR_HASH_MISMATCH'
  | 'NB_ERR_TOO_LARGE'
  | 'NB_ERR_GRAPH_INCOMPLETE'
  | 'NB_ERR_MISSING_OBJECT'
  | 'NB_ERR_NOT_FOUND'
  | 'NB_ERR_UNSUPPORTED'
  | 'NB_ERR_UNAUTHENTICATED'
  | 'NB_ERR_FORBIDDEN'
  | 'NB_ERR_CONFLICT'
  | 'NB_ERR_TIMEOUT'
  | 'NB_ERR_UPSTREAM'
  | 'NB_ERR_STORAGE'
  | 'NB_ERR_CONFIG';

const BRAND = Symbol.for('nar-bridge.error');

export class NarBridgeError extends Error {
  override readonly name = 'NarBridgeError';
  readonly [BRAND] = true;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Brand check, so errors from a second copy of this module still match. */
  static is(err: unknown): err is NarBridgeError {
    return typeof err === 'object' && err !== null && BRAND in err;
  }
}

/** A filesystem call failed because the path does not exist (errno ENOENT); not a NarBridgeError miss. */
export function isEnoent(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}
