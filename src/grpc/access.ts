// Access control for the gRPC listener: the HTTP tokens file, presented as `authorization: Bearer <token>`
// metadata. Writes (the three Put methods) need a write token; reads need a read token only with private reads.
import { type Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { BLOB_METHODS, DIRECTORY_METHODS } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { PATH_INFO_METHODS } from '../store/index.js';
import { grpcStatusFor } from './errors.js';
import type { GrpcLog } from './handlers.js';

type Scope = 'read' | 'write';

/** What the CLI's AccessControl (src/http) provides; restated here so this layer does not import HTTP. */
export interface GrpcAccessControl {
  readonly tokens: { scopeOf(token: string): Scope | null };
  readonly privateReads: boolean;
}

const WRITES: ReadonlySet<string> = new Set([BLOB_METHODS.put.path, DIRECTORY_METHODS.put.path, PATH_INFO_METHODS.put.path]);

/** Refuses a call before its handler runs (and before any request message is read). */
export function accessInterceptor(access: GrpcAccessControl, log: GrpcLog): ServerInterceptor {
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const refusal = refusalOf(method.path, metadata, access);
            if (!refusal) return pass(metadata);
            log.debug({ err: refusal, method: method.path }, 'gRPC call refused');
            call.sendStatus(grpcStatusFor(refusal));
          },
        }),
    });
}

function refusalOf(path: string, metadata: Metadata, { tokens, privateReads }: GrpcAccessControl): NarBridgeError | null {
  const needed: Scope | null = WRITES.has(path) ? 'write' : privateReads ? 'read' : null;
  if (!needed) return null;
  const presented = bearerTokenOf(metadata);
  const granted = presented === null ? null : tokens.scopeOf(presented);
  if (granted === null) {
    const why = presented === null ? 'credentials required' : 'invalid token';
    return new NarBridgeError('NB_ERR_UNAUTHENTICATED', `${why}: send the token as "authorization: Bearer <token>" metadata`);
  }
  return needed === 'write' && granted !== 'write' ? new NarBridgeError('NB_ERR_FORBIDDEN', 'this token may only read') : null;
}

function bearerTokenOf(metadata: Metadata): string | null {
  const [value] = metadata.get('authorization');
  const match = typeof value === 'string' ? /^Bearer +(\S+) *$/i.exec(value) : null;
  return match?.[1] ?? null;
}
