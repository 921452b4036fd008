// A gRPC service URL → where to connect, how (plain, TLS against system or given CAs) and which token to present.
import { readFile } from 'node:fs/promises';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { NarBridgeError } from '../../errors.js';
import type { Http2Target } from './lean.js';

export interface GrpcEndpoint {
  /** A grpc-js target: `host:port` or `unix:///abs/path`. */
  readonly target: string;
  readonly credentials: ChannelCredentials;
  /** The same address for the lean client of the hot lookups (lean.ts). */
  readonly http2: Http2Target;
  /** Presented on every call as `authorization: Bearer <token>` (what tvix and our server check); null: none. */
  readonly token: string | null;
}

/** The query parameters a gRPC URL may carry; each names a file read once, at startup. */
const PARAMS = ['token-file', 'ca-file'] as const;

/**
 * `grpc+http://host:port`, `grpc+https://host:port` or `grpc+unix:///abs/socket`, optionally with
 * `?token-file=/abs/path` (any transport) and `?ca-file=/abs/path.pem` (grpc+https only: trust these CAs instead
 * of the system's). Anything else is NB_ERR_CONFIG.
 */
export async function grpcEndpointFromUrl(url: URL): Promise<GrpcEndpoint> {
  const bad = (why: string) => new NarBridgeError('NB_ERR_CONFIG', `${url.href}: ${why}`);
  if (url.hash || url.username || url.password) throw bad('gRPC URLs take no fragment or credentials (use ?token-file=)');
  for (const key of new Set(url.searchParams.keys())) {
    if (!(PARAMS as readonly string[]).includes(key)) throw bad(`unknown parameter ${key} (known: ${PARAMS.join(', ')})`);
    if (url.searchParams.getAll(key).length > 1) throw bad(`${key} given twice`);
  }
  const tokenFile = url.searchParams.get('token-file');
  const caFile = url.searchParams.get('ca-file');
  const token = tokenFile === null ? null : await readToken(tokenFile, bad);
  switch (url.protocol) {
    case 'grpc+http:':
    case 'grpc+https:': {
      if (!url.hostname || !url.port) throw bad('expected host:port');
      if (url.pathname !== '' && url.pathname !== '/') throw bad('a gRPC address has no path');
      if (url.protocol === 'grpc+http:') {
        if (caFile !== null) throw bad('ca-file needs grpc+https');
        return { target: url.host, credentials: credentials.createInsecure(), http2: { origin: `http://${url.host}`, socketPath: null, ca: null }, token };
      }
      const ca = caFile === null ? null : await readFileOrFail(caFile, 'ca-file', bad);
      return { target: url.host, credentials: credentials.createSsl(ca), http2: { origin: `https://${url.host}`, socketPath: null, ca }, token };
    }
    case 'grpc+unix:': {
      if (url.host) throw bad('expected grpc+unix:///absolute/path (no host)');
      if (caFile !== null) throw bad('ca-file needs grpc+https');
      const path = decodeURIComponent(url.pathname);
      if (path.length < 2 || !path.startsWith('/')) throw bad('expected an absolute socket path');
      const http2 = { origin: 'http://localhost', socketPath: path, ca: null };
      return { target: `unix://${path}`, credentials: credentials.createInsecure(), http2, token };
    }
    default:
      throw bad('gRPC transport must be grpc+http, grpc+https or grpc+unix');
  }
}

/** One token, alone in the file (a trailing newline is fine): what the server's tokens file would list. */
async function readToken(file: string, bad: (why: string) => NarBridgeError): Promise<string> {
  const token = (await readFileOrFail(file, 'token-file', bad)).toString('utf8').trim();
  // Never echo the file's contents: it is a secret, and a misnamed file may hold another.
  if (!/^[\x21-\x7e]+$/.test(token)) throw bad(`token-file ${file} must hold one token of printable ASCII, no spaces`);
  return token;
}

async function readFileOrFail(file: string, what: string, bad: (why: string) => NarBridgeError): Promise<Buffer> {
  if (!file.startsWith('/')) throw bad(`${what} must be an absolute path`);
  try {
    return await readFile(file);
  } catch (err) {
    throw new NarBridgeError('NB_ERR_CONFIG', bad(`cannot read ${what} ${file}`).message, { cause: err });
  }
}
