// gRPC plumbing shared by the castore and store clients and by src/grpc's servers.
export { GrpcConnection, MAX_GRPC_MESSAGE_BYTES, type ClientStreamCall } from './connection.js';
export { grpcEndpointFromUrl, type GrpcEndpoint } from './endpoint.js';
export { protoCodec, toBuffer, type Codec, type MethodSpec } from './method.js';
export { BLOB_METHODS, DIRECTORY_METHODS, type BlobChunk } from './services.js';
export { isNotFound } from './status.js';
export { uint64ToNumber } from './uint64.js';
