// tvix PathInfoService over gRPC, served from a Store: Get, Put (checked by the store's gate), CalculateNAR, List.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { NarBridgeError } from '../errors.js';
import { storePathDigest } from '../nix/index.js';
import { NarCalculator, PATH_INFO_METHODS, type GuardedStore } from '../store/index.js';
import { servedMethod } from './definition.js';
import { serverStreamHandler, unaryHandler, type GrpcLog } from './handlers.js';

export const PATH_INFO_SERVICE_DEFINITION = {
  get: servedMethod(PATH_INFO_METHODS.get),
  put: servedMethod(PATH_INFO_METHODS.put),
  calculateNar: servedMethod(PATH_INFO_METHODS.calculateNar),
  list: servedMethod(PATH_INFO_METHODS.list),
};

export function pathInfoServiceImplementation(store: GuardedStore, log: GrpcLog): UntypedServiceImplementation {
  const calculator = new NarCalculator(store);
  return {
    get: unaryHandler(PATH_INFO_METHODS.get, log, async (request, signal) => {
      const digest = storePathDigest(request.byOutputHash ?? new Uint8Array(0));
      const info = await store.pathInfos.get(digest, { signal });
      if (!info) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no PathInfo for that output hash');
      return info;
    }),

    // Untrusted: rendered and hashed against its NarHash/NarSize, then the upload policy and immutability.
    put: unaryHandler(PATH_INFO_METHODS.put, log, async (info, signal) => {
      await store.pathInfos.put(info, { signal });
      return info;
    }),

    calculateNar: unaryHandler(PATH_INFO_METHODS.calculateNar, log, async ({ node }, signal) => {
      const facts = await calculator.calculate(node, { signal });
      return { narSize: facts.narSize, narSha256: facts.narSha256 };
    }),

    list: serverStreamHandler(PATH_INFO_METHODS.list, log, (_request, signal) => store.pathInfos.list({ signal })),
  };
}
