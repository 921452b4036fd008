// MethodSpec → a grpc-js method definition for serving: requests stay raw bytes until the handler decodes them.
import type { MethodDefinition } from '@grpc/grpc-js';
import { toBuffer, type MethodSpec } from '../castore/index.js';

const raw = (bytes: Buffer): Buffer => bytes;

/**
 * grpc-js answers a request its deserializer throws on with INTERNAL; decoding in the handler instead makes
 * a malformed message INVALID_ARGUMENT with our reason. `serialize` replaces the codec's encoding where a method's
 * answers are bulk bytes: grpc-js serialises a message only when its turn to be written comes, and copies the bytes
 * returned into the frame it sends before it serialises another (`serializeMessage` in its server-interceptors), so a
 * serializer may hand back a view of a buffer it reuses.
 */
export function servedMethod<Req, Res>(spec: MethodSpec<Req, Res>, serialize?: (value: Res) => Buffer): MethodDefinition<Buffer, Res> {
  return {
    path: spec.path,
    requestStream: spec.requestStream,
    responseStream: spec.responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: serialize ?? ((value: Res) => toBuffer(spec.response.encode(value))),
    responseDeserialize: (bytes: Buffer) => spec.response.decode(bytes),
  };
}
