// Access control: a request hook checking HTTP Basic (password = token, any user name, as Nix sends from
// netrc or `http://user:token@host`) or Bearer credentials against the tokens file.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NarBridgeError } from '../errors.js';
import type { AccessTokens, Scope } from './tokens.js';

export interface AccessControl {
  readonly tokens: AccessTokens;
  /** Reads need a token too; otherwise only writes do. */
  readonly privateReads: boolean;
}

const CHALLENGE = 'Basic realm="nar-bridge"';
/**
 * Readable even with private reads: they hold no store data, probes carry no tokens, and Nix disables
 * a cache whose nix-cache-info it cannot read (after trying to PUT one, nix-http-protocol.md §5).
 */
const ALWAYS_READABLE = new Set(['/nix-cache-info', '/healthz', '/readyz']);

/** Adds the hook to `app` itself (not an encapsulated child), so it guards every route. */
export function installAccessControl(app: FastifyInstance, { tokens, privateReads }: AccessControl): void {
  app.addHook('onRequest', async (request, reply) => {
    const needed = scopeNeeded(request, privateReads);
    if (!needed) return;
    const presented = credentialOf(request.headers.authorization);
    const granted = presented === null ? null : tokens.scopeOf(presented);
    if (granted === null) {
      reply.header('www-authenticate', CHALLENGE);
      const why = presented === null ? 'credentials required' : 'invalid token';
      throw new NarBridgeError('NB_ERR_UNAUTHENTICATED', `${why}: send the token as the Basic password or a Bearer token`);
    }
    if (needed === 'write' && granted !== 'write') throw new NarBridgeError('NB_ERR_FORBIDDEN', 'this token may only read');
  });
}

/** Whether a GET or HEAD of store data may be answered without asking (no token needed, or a valid one sent). */
export function readAllowed(access: AccessControl | undefined, authorization: string | undefined): boolean {
  if (!access?.privateReads) return true;
  const presented = credentialOf(authorization);
  return presented !== null && access.tokens.scopeOf(presented) !== null;
}

function scopeNeeded(request: FastifyRequest, privateReads: boolean): Scope | null {
  if (request.method === 'GET' || request.method === 'HEAD') return privateReads && !ALWAYS_READABLE.has(request.url) ? 'read' : null;
  return 'write';
}

/** The token in an Authorization header, or null when there is none we understand. */
function credentialOf(header: string | undefined): string | null {
  const match = header === undefined ? null : /^(Basic|Bearer) +(\S+) *$/i.exec(header);
  const scheme = match?.[1]?.toLowerCase();
  const value = match?.[2];
  if (!value) return null;
  if (scheme === 'bearer') return value;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}
