// A gRPC method as data: its path, streaming shape and the codecs of its messages, shared by servers and clients.
import { Buffer } from 'node:buffer';

/** Bytes ⇄ value for one message type. `decode` validates: it throws a NarBridgeError on bad input. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export interface MethodSpec<Req, Res> {
  /** `/package.Service/Method`, exactly as tvix names it. */
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly request: Codec<Req>;
  readonly response: Codec<Res>;
  /** Sent by the lean client (lean.ts) rather than grpc-js: a per-file lookup, where per-call CPU was the limit. */
  readonly lean?: boolean;
}

/** The slice of a generated protobufjs message class a codec needs. */
interface ProtoType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export function protoCodec<T>(type: ProtoType<T>): Codec<T> {
  return { encode: (value) => type.encode(value).finish(), decode: (bytes) => type.decode(bytes) };
}

/** grpc-js wants Buffers; this wraps our bytes without copying. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
