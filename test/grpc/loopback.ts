// A gRPC server over a fresh memory store (composed as serve composes it) on 127.0.0.1 or a unix socket, plus clients of all three services.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrpcBlobService, GrpcConnection, GrpcDirectoryService, grpcEndpointFromUrl } from '../../src/castore/index.js';
import { startGrpcServer, type GrpcLog } from '../../src/grpc/index.js';
import { composeStore, GrpcPathInfoService, type GuardedStore, type Store, type StoreComposition } from '../../src/store/index.js';
import { memoryStore } from '../store/memory-store.js';

export { memoryStore };

export type Transport = 'tcp' | 'unix';

export interface Loopback {
  /** The backends the server's composed store is made of: tests arrange and inspect state here directly. */
  readonly store: Store;
  /** The composed store the server serves: hand it to buildServer to put HTTP over the same one. */
  readonly served: GuardedStore;
  readonly url: string;
  readonly connection: GrpcConnection;
  readonly blobs: GrpcBlobService;
  readonly directories: GrpcDirectoryService;
  readonly pathInfos: GrpcPathInfoService;
  /** Every line the server logged at error level: a test can assert it stayed empty. */
  readonly errors: unknown[];
  close(): Promise<void>;
}

export async function startLoopback(transport: Transport, store: Store = memoryStore(), composition: StoreComposition = {}): Promise<Loopback> {
  const errors: unknown[] = [];
  const log: GrpcLog = { error: (fields) => errors.push(fields), debug: () => undefined };
  const dir = transport === 'unix' ? await mkdtemp(join(tmpdir(), 'nb-grpc-')) : null;
  const socket = dir ? join(dir, 'grpc.sock') : null;
  const served = composeStore(store, composition);
  const listener = await startGrpcServer(socket ? `unix:${socket}` : '127.0.0.1:0', { store: served, log });
  const url = socket ? `grpc+unix://${socket}` : `grpc+http://127.0.0.1:${listener.port}`;
  const connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(url)));
  return {
    store,
    served,
    url,
    connection,
    blobs: new GrpcBlobService(connection),
    directories: new GrpcDirectoryService(connection),
    pathInfos: new GrpcPathInfoService(connection),
    errors,
    async close() {
      connection.close();
      await listener.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
