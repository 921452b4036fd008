// Adapters from async functions to grpc-js handlers: decode requests, honour drain and cancellation, map errors.
import { once } from 'node:events';
import {
  status as Status,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { MethodSpec } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { grpcStatusFor } from './errors.js';

/** What handlers log through: pino's Logger fits. */
export interface GrpcLog {
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** Untrusted bytes → a request; anything the codec rejects is the client's fault (INVALID_ARGUMENT). */
function decodeRequest<Req>(spec: MethodSpec<Req, unknown>, bytes: Buffer): Req {
  try {
    return spec.request.decode(bytes);
  } catch (err) {
    if (NarBridgeError.is(err)) throw err;
    throw new NarBridgeError('NB_ERR_INVALID_NODE', `malformed request message for ${spec.path}`, { cause: err });
  }
}

/**
 * The abort reason of every cancelled call, made once: grpc-js reports 'cancelled' at the end of every call, also
 * after a status was sent, so a fresh error (and its stack trace) per call was a measurable share of a small Read.
 */
const CLIENT_CANCELLED = new NarBridgeError('NB_ERR_UPSTREAM', 'the client cancelled the call');

/** Aborts when the client cancels the call or goes away (and once it has ended: see CLIENT_CANCELLED). */
function callSignal(call: { on(event: 'cancelled', listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(CLIENT_CANCELLED));
  return controller.signal;
}

/** Logs once, here at the edge: refusals of the client's input at debug, our own failures at error. */
function report(log: GrpcLog, path: string, err: unknown) {
  const status = grpcStatusFor(err);
  const ours = !NarBridgeError.is(err) || status.code === Status.INTERNAL || status.code === Status.UNAVAILABLE;
  if (ours) log.error({ err, method: path }, 'gRPC call failed');
  else log.debug({ err, method: path }, 'gRPC call refused');
  return status;
}

export function unaryHandler<Req, Res>(
  spec: MethodSpec<Req, Res>,
  log: GrpcLog,
  handle: (request: Req, signal: AbortSignal) => Promise<Res>,
): handleUnaryCall<Buffer, Res> {
  return (call: ServerUnaryCall<Buffer, Res>, callback: sendUnaryData<Res>) => {
    const signal = callSignal(call);
    Promise.resolve()
      .then(() => handle(decodeRequest(spec, call.request), signal))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(report(log, spec.path, err)),
      );
  };
}

export function serverStreamHandler<Req, Res>(
  spec: MethodSpec<Req, Res>,
  log: GrpcLog,
  handle: (request: Req, signal: AbortSignal) => AsyncIterable<Res>,
): handleServerStreamingCall<Buffer, Res> {
  return (call: ServerWritableStream<Buffer, Res>) => {
    const signal = callSignal(call);
    writeAll(call, () => handle(decodeRequest(spec, call.request), signal), signal).then(
      () => call.end(),
      (err: unknown) => {
        if (!signal.aborted) call.emit('error', report(log, spec.path, err));
      },
    );
  };
}

/** Writes every message, waiting for 'drain' whenever grpc-js's buffer is full; stops when the call is cancelled. */
async function writeAll<Res>(call: ServerWritableStream<Buffer, Res>, source: () => AsyncIterable<Res>, signal: AbortSignal): Promise<void> {
  for await (const message of source()) {
    signal.throwIfAborted();
    if (!call.write(message)) await once(call, 'drain', { signal });
  }
}

export function clientStreamHandler<Req, Res>(
  spec: MethodSpec<Req, Res>,
  log: GrpcLog,
  handle: (requests: AsyncIterable<Req>, signal: AbortSignal) => Promise<Res>,
): handleClientStreamingCall<Buffer, Res> {
  return (call: ServerReadableStream<Buffer, Res>, callback: sendUnaryData<Res>) => {
    const signal = callSignal(call);
    const requests = (async function* () {
      for await (const bytes of call) {
        if (!Buffer.isBuffer(bytes)) throw new Error('grpc-js delivered a non-Buffer message');
        yield decodeRequest(spec, bytes);
      }
      // A cancelled call ends the stream too; it must not look like a complete upload.
      signal.throwIfAborted();
    })();
    Promise.resolve()
      .then(() => handle(requests, signal))
      .then(
        (response) => callback(null, response),
        (err: unknown) => {
          if (!signal.aborted) callback(report(log, spec.path, err));
        },
      );
  };
}
