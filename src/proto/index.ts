// The generated tvix protobuf messages; only */wire.ts files and gRPC transports import this.
export { tvix } from './gen/tvix.js';
