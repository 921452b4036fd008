// A gRPC server over a fresh memory store on 127.0.0.1 or a unix socket, plus clients of all three services.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GrpcBlobService,
  GrpcConnection,
  GrpcDirectoryService,
  grpcEndpointFromUrl,
} from '../../src/castore/index.js';
import { startGrpcServer, type GrpcLog } from '../../src/grpc/index.js';
import { GrpcPathInfoService, type Store } from '../../src/store/index.js';
import { memoryStore } from '../store/memory-store.js';

export { memoryStore };

export type Transport = 'tcp' | 'unix';

export interface Loopback {
  /** What the server serves from: tests arrange and inspect state here directly. */
  readonly store: Store;
  readonly url: string;
  readonly connection: GrpcConnection;
  readonly blobs: GrpcBlobService;
  readonly directories: GrpcDirectoryService;
  readonly pathInfos: GrpcPathInfoService;
  /** Every line the server logged at error level: a test can assert it stayed empty. */
  readonly errors: unknown[];
  close(): Promise<void>;
}

export async function startLoopback(transport: Transport, store: Store = memoryStore()): Promise<Loopback> {
  const errors: unknown[] = [];
  const log: GrpcLog = { error: (fields) => errors.push(fields), debug: () => undefined };
  const dir = transport === 'unix' ? await mkdtemp(join(tmpdir(), 'nb-grpc-')) : null;
  const socket = dir ? join(dir, 'grpc.sock') : null;
  const listener = await startGrpcServer(socket ? `unix:${socket}` : '127.0.0.1:0', { store, log });
  const url = socket ? `grpc+unix://${socket}` : `grpc+http://127.0.0.1:${listener.port}`;
  const connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(url)));
  return {
    store,
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
