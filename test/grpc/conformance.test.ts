// The BlobService and DirectoryService conformance suites, run on our gRPC clients against our gRPC server.
import { describeBlobService } from '../castore/blob-service-suite.js';
import { describeDirectoryService } from '../castore/directory-service-suite.js';
import { startLoopback, type Transport } from './loopback.js';

for (const transport of ['tcp', 'unix'] as const satisfies readonly Transport[]) {
  describeBlobService(`grpc over ${transport}`, async () => {
    const loopback = await startLoopback(transport);
    return { service: loopback.blobs, cleanup: () => loopback.close() };
  });

  describeDirectoryService(`grpc over ${transport}`, async () => {
    const loopback = await startLoopback(transport);
    return { service: loopback.directories, cleanup: () => loopback.close() };
  });
}
