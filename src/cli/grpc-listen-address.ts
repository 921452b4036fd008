// Parsing `--grpc-listen`: HOST:PORT for TCP, or unix:/abs/path for a unix socket, into grpc-js bind syntax.
import { NarBridgeError } from '../errors.js';
import { parseListenAddress } from './listen-address.js';
import { isLoopback } from './load-trust.js';

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

/** Whether a parsed address (`host:port`, `[v6]:port`, `unix:/path`) only accepts connections from this machine. */
export function isLocalGrpcAddress(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  return isLoopback(address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1'));
}
