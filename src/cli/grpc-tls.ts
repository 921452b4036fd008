// --grpc-tls-cert / --grpc-tls-key → the PEM bytes the gRPC server serves TLS with, read once at startup.
import { readFile } from 'node:fs/promises';
import { NarBridgeError } from '../errors.js';
import type { GrpcServerTls } from '../grpc/index.js';
import type { ServeSettings } from './settings.js';

/** Null when neither file is set: gRPC is then served in plaintext. */
export async function readGrpcTls({ grpcTlsCertFile, grpcTlsKeyFile }: ServeSettings): Promise<GrpcServerTls | null> {
  if (grpcTlsCertFile === null && grpcTlsKeyFile === null) return null;
  if (grpcTlsCertFile === null || grpcTlsKeyFile === null) throw new NarBridgeError('NB_ERR_CONFIG', '--grpc-tls-cert and --grpc-tls-key go together');
  const read = (file: string, what: string) =>
    readFile(file).catch((err: unknown) => {
      throw new NarBridgeError('NB_ERR_CONFIG', `cannot read ${what} ${file}`, { cause: err });
    });
  return { certChain: await read(grpcTlsCertFile, '--grpc-tls-cert'), privateKey: await read(grpcTlsKeyFile, '--grpc-tls-key') };
}
