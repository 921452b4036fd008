// Parsing `--grpc-listen`: HOST:PORT for TCP, or unix:/abs/path for a unix socket, into grpc-js bind syntax.
import { NarBridgeError } from '../errors.js';
import { parseListenAddress } from './listen-address.js';

export function parseGrpcListenAddress(text: string): string {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, ''); // unix:///abs and unix:/abs alike
    if (!path.startsWith('/') || path.length < 2) throw new NarBridgeError('NB_ERR_CONFIG', `--grpc-listen unix: needs an absolute path, got '${text}'`);
    return `unix:${path}`;
  }
  try {
    const { host, port } = parseListenAddress(text);
    return `${host.includes(':') ? `[${host}]` : host}:${port}`;
  } catch (err) {
    throw new NarBridgeError('NB_ERR_CONFIG', `--grpc-listen must be HOST:PORT or unix:/path, got '${text}'`, { cause: err });
  }
}
