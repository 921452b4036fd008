// The gRPC server: the three tvix services over one Store, bound to a TCP or unix socket address.
import { format } from 'node:util';
import { Server, ServerCredentials, setLogger } from '@grpc/grpc-js';
import { MAX_GRPC_MESSAGE_BYTES } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import type { GuardedStore } from '../store/index.js';
import { accessInterceptor, type GrpcAccessControl } from './access.js';
import { BLOB_SERVICE_DEFINITION, blobServiceImplementation } from './blob-service.js';
import { DIRECTORY_SERVICE_DEFINITION, directoryServiceImplementation } from './directory-service.js';
import type { GrpcLog } from './handlers.js';
import { PATH_INFO_SERVICE_DEFINITION, pathInfoServiceImplementation } from './path-info-service.js';

/** How long a stop waits for calls in progress before cutting them off. */
const SHUTDOWN_GRACE_MS = 5_000;

export interface GrpcServerOptions {
  /** Composed once (composeStore) and shared with HTTP: its gate checks every PathInfo put here. */
  readonly store: GuardedStore;
  readonly log: GrpcLog;
  /** Tokens and scopes; without it every call is allowed (the CLI warns when not on loopback). */
  readonly access?: GrpcAccessControl;
  /** Serve TLS with this PEM certificate chain and key instead of plaintext HTTP/2. */
  readonly tls?: GrpcServerTls;
}

export interface GrpcServerTls {
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
}

export interface GrpcListener {
  /** The bound TCP port (the one asked for, or the one picked for port 0); 0 for a unix socket. */
  readonly port: number;
  close(): Promise<void>;
}

/** `address` is grpc-js syntax: `host:port`, `[v6]:port` or `unix:/abs/path`. */
export async function startGrpcServer(address: string, { store, log, access, tls }: GrpcServerOptions): Promise<GrpcListener> {
  // grpc-js prints to stderr what it also hands to our callbacks (a failed bind, a failed call): into our log instead.
  setLogger({ error: (...args: unknown[]) => log.debug({ component: 'grpc-js' }, format(...args)) });
  const server = new Server({
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.enable_channelz': 0, // per-call bookkeeping nobody reads: ~5% of a small Read's CPU
    interceptors: access ? [accessInterceptor(access, log)] : [],
  });
  server.addService(BLOB_SERVICE_DEFINITION, blobServiceImplementation(store.blobs, log));
  server.addService(DIRECTORY_SERVICE_DEFINITION, directoryServiceImplementation(store.directories, log));
  server.addService(PATH_INFO_SERVICE_DEFINITION, pathInfoServiceImplementation(store, log));
  const port = await new Promise<number>((resolve, reject) => {
    const credentials = tls
      ? ServerCredentials.createSsl(null, [{ cert_chain: tls.certChain, private_key: tls.privateKey }], false)
      : ServerCredentials.createInsecure();
    server.bindAsync(address, credentials, (err, bound) => {
      if (err) reject(bindError(address, err));
      else resolve(bound);
    });
  });
  return { port: address.startsWith('unix:') ? 0 : port, close: () => shutdown(server) };
}

/** grpc-js folds the OS error into its message ("… [listen EADDRINUSE: …]"); its code is kept for the CLI to word. */
function bindError(address: string, err: Error): NarBridgeError {
  // "[listen EADDRINUSE: …]" in one process, "[bind EADDRINUSE 127.0.0.1:…]" in a cluster worker.
  const code = /\b(E[A-Z]+)[: ]/.exec(err.message)?.[1];
  return code === undefined
    ? new NarBridgeError('NB_ERR_CONFIG', `cannot serve gRPC on ${address}: ${err.message}`, { cause: err })
    : new NarBridgeError('NB_ERR_CONFIG', `cannot serve gRPC on ${address}`, { cause: Object.assign(err, { code }) });
}

async function shutdown(server: Server): Promise<void> {
  const graceful = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
  try {
    await graceful;
  } finally {
    clearTimeout(timer);
  }
}
