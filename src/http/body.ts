// Reading request bodies ourselves: NAR uploads stream; narinfo bodies are small and capped.
import type { IncomingMessage } from 'node:http';
import { NarBridgeError } from '../errors.js';
import { idleLimited, type BodySource } from './limits.js';

/** The body as text: at most `maxBytes`, and refused (NB_ERR_TIMEOUT) if the client stalls for `idleMs`. */
export async function readTextBody(request: BodySource, maxBytes: number, idleMs: number): Promise<string> {
  const declared = Number(request.raw.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new NarBridgeError('NB_ERR_TOO_LARGE', `body larger than ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of idleLimited(request, idleMs)) {
    length += chunk.byteLength;
    if (length > maxBytes) throw new NarBridgeError('NB_ERR_TOO_LARGE', `body larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and discards a body we accept but don't keep, so the connection stays usable. */
export async function discardBody(raw: IncomingMessage): Promise<void> {
  for await (const _ of raw) {
    // nothing to keep
  }
}
