// tvix DirectoryService over gRPC, served from any DirectoryService: Get (single or recursive) and Put.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { B3Digest, DIRECTORY_METHODS, type Directory, type DirectoryService } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { servedMethod } from './definition.js';
import { clientStreamHandler, serverStreamHandler, type GrpcLog } from './handlers.js';

export const DIRECTORY_SERVICE_DEFINITION = {
  get: servedMethod(DIRECTORY_METHODS.get),
  put: servedMethod(DIRECTORY_METHODS.put),
};

export function directoryServiceImplementation(directories: DirectoryService, log: GrpcLog): UntypedServiceImplementation {
  return {
    get: serverStreamHandler(DIRECTORY_METHODS.get, log, async function* (request, signal): AsyncGenerator<Directory> {
      const digest = B3Digest.parse(request.digest ?? new Uint8Array(0));
      // The root is fetched on its own first, so a missing root is NOT_FOUND rather than a broken graph.
      const root = await directories.get(digest, { signal });
      if (!root) throw new NarBridgeError('NB_ERR_NOT_FOUND', `directory ${digest.toHex()} not found`);
      if (!request.recursive) {
        yield root;
        return;
      }
      // Root first, each Directory after one that refers to it, each once: getRecursive's contract.
      yield* directories.getRecursive(digest, { signal });
    }),

    put: clientStreamHandler(DIRECTORY_METHODS.put, log, async (requests, signal) => {
      const putter = directories.putter({ signal });
      for await (const directory of requests) await putter.put(directory);
      return { rootDigest: (await putter.close()).bytes };
    }),
  };
}
