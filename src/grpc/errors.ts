// The only place gRPC statuses are chosen for our errors; Record<> forces a decision for every new code.
import { status as Status } from '@grpc/grpc-js';
import { NarBridgeError, type ErrorCode } from '../errors.js';

const GRPC_STATUS: Record<ErrorCode, Status> = {
  NB_ERR_NAR_MALFORMED: Status.INVALID_ARGUMENT,
  NB_ERR_NARINFO_MALFORMED: Status.INVALID_ARGUMENT,
  NB_ERR_INVALID_NAME: Status.INVALID_ARGUMENT,
  NB_ERR_INVALID_DIGEST: Status.INVALID_ARGUMENT,
  NB_ERR_INVALID_NODE: Status.INVALID_ARGUMENT,
  NB_ERR_HASH_MISMATCH: Status.INVALID_ARGUMENT,
  NB_ERR_TOO_LARGE: Status.RESOURCE_EXHAUSTED,
  // A Directory or PathInfo that refers to what is not stored: the request is fine, the store's state is not.
  NB_ERR_GRAPH_INCOMPLETE: Status.FAILED_PRECONDITION,
  NB_ERR_MISSING_OBJECT: Status.FAILED_PRECONDITION,
  NB_ERR_NOT_FOUND: Status.NOT_FOUND,
  NB_ERR_UNSUPPORTED: Status.INVALID_ARGUMENT,
  NB_ERR_UNAUTHENTICATED: Status.UNAUTHENTICATED,
  NB_ERR_FORBIDDEN: Status.PERMISSION_DENIED,
  NB_ERR_CONFLICT: Status.FAILED_PRECONDITION,
  NB_ERR_TIMEOUT: Status.DEADLINE_EXCEEDED,
  NB_ERR_UPSTREAM: Status.UNAVAILABLE,
  NB_ERR_STORAGE: Status.INTERNAL,
  NB_ERR_CONFIG: Status.INTERNAL,
};

interface GrpcStatus {
  readonly code: Status;
  readonly details: string;
}

/** Our errors keep their message; anything else is INTERNAL with a generic one (details go to the log). */
export function grpcStatusFor(err: unknown): GrpcStatus {
  if (NarBridgeError.is(err)) return { code: GRPC_STATUS[err.code], details: err.message };
  return { code: Status.INTERNAL, details: 'internal error' };
}
