// MethodSpec → a grpc-js method definition for serving: requests stay raw bytes until the handler decodes them.
import type { MethodDefinition } from '@grpc/grpc-js';
import { toBuffer, type MethodSpec } from '../castore/index.js';

const raw = (bytes: Buffer): Buffer => bytes;

/**
 * grpc-js answers a request its deserializer throws on with INTERNAL; decoding in the handler instead makes
 * a malformed message INVALID_ARGUMENT with our reason. `serialized` hears of each answer once its bytes were copied
 * into the message sent (grpc-js serialises a message only when its turn to be written comes).
 */
export function servedMethod<Req, Res>(spec: MethodSpec<Req, Res>, serialized?: (value: Res) => void): MethodDefinition<Buffer, Res> {
  return {
    path: spec.path,
    requestStream: spec.requestStream,
    responseStream: spec.responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: (value: Res) => {
      const bytes = toBuffer(spec.response.encode(value));
      serialized?.(value);
      return bytes;
    },
    responseDeserialize: (bytes: Buffer) => spec.response.decode(bytes),
  };
}
