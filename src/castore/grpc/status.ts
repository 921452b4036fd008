// gRPC status → NarBridgeError, for every client: the one place a peer's answer becomes one of our codes.
import { status as Status } from '@grpc/grpc-js';
import { NarBridgeError, type ErrorCode } from '../../errors.js';

/**
 * NOT_FOUND becomes NB_ERR_NOT_FOUND, which clients turn into `null`/`false`. What the peer refused as bad
 * input or as missing objects keeps that meaning (an upload through us is then refused with a 4xx); anything
 * about the peer or the link itself is NB_ERR_UPSTREAM.
 */
const CODE_FOR_STATUS: Record<keyof typeof Status, ErrorCode> = {
  OK: 'NB_ERR_UPSTREAM', // an error object with OK is a peer bug
  CANCELLED: 'NB_ERR_UPSTREAM',
  UNKNOWN: 'NB_ERR_UPSTREAM',
  INVALID_ARGUMENT: 'NB_ERR_INVALID_NODE',
  DEADLINE_EXCEEDED: 'NB_ERR_UPSTREAM',
  NOT_FOUND: 'NB_ERR_NOT_FOUND',
  ALREADY_EXISTS: 'NB_ERR_UPSTREAM',
  PERMISSION_DENIED: 'NB_ERR_UPSTREAM',
  RESOURCE_EXHAUSTED: 'NB_ERR_TOO_LARGE',
  FAILED_PRECONDITION: 'NB_ERR_MISSING_OBJECT',
  ABORTED: 'NB_ERR_UPSTREAM',
  OUT_OF_RANGE: 'NB_ERR_UPSTREAM',
  UNIMPLEMENTED: 'NB_ERR_UNSUPPORTED',
  INTERNAL: 'NB_ERR_UPSTREAM',
  UNAVAILABLE: 'NB_ERR_UPSTREAM',
  DATA_LOSS: 'NB_ERR_UPSTREAM',
  UNAUTHENTICATED: 'NB_ERR_UPSTREAM',
};

const STATUS_NAMES = new Map(Object.entries(Status).map(([name, value]) => [value, name]));

function statusName(err: unknown): keyof typeof Status | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  const name = typeof code === 'number' ? STATUS_NAMES.get(code) : undefined;
  return name !== undefined && name in CODE_FOR_STATUS ? (name as keyof typeof Status) : undefined;
}

/** The error to throw for a failed call to `method`; a call we cancelled ourselves rethrows the abort reason. */
export function errorFromStatus(err: unknown, method: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (NarBridgeError.is(err)) return err;
  const name = statusName(err);
  if (!name) return new NarBridgeError('NB_ERR_UPSTREAM', `${method} failed`, { cause: err });
  const code = CODE_FOR_STATUS[name];
  // A refusal's details describe our request and may be passed on; a link failure's name peer addresses: logs only.
  const details = code !== 'NB_ERR_UPSTREAM' && typeof err === 'object' && err !== null && 'details' in err ? String(err.details) : '';
  return new NarBridgeError(code, `${method}: ${name}${details ? `: ${details}` : ''}`, { cause: err });
}

/** A NarBridgeError NB_ERR_NOT_FOUND, such as a peer's NOT_FOUND status becomes: the thing asked for is absent. */
export function isNotFound(err: unknown): boolean {
  return NarBridgeError.is(err) && err.code === 'NB_ERR_NOT_FOUND';
}
