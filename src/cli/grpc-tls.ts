// --grpc-tls-cert / --grpc-tls-key → the PEM bytes the gRPC server serves TLS with, read once at startup.
import { readFile } from 'node:fs/promises';
import { NarBridgeError } from '../errors.js';
import type { GrpcServerTls } from '../grpc/index.js';
import type { GrpcTlsFiles } from './settings.js';

export async function readGrpcTls({ certFile, keyFile }: GrpcTlsFiles): Promise<GrpcServerTls> {
  const read = (file: string, what: string) =>
    readFile(file).catch((err: unknown) => {
      throw new NarBridgeError('NB_ERR_CONFIG', `cannot read ${what} ${file}`, { cause: err });
    });
  return { certChain: await read(certFile, '--grpc-tls-cert'), privateKey: await read(keyFile, '--grpc-tls-key') };
}
