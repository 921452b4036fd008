// Lets the server close while clients hold connections they have not used: on close, sockets with no request in
// flight are destroyed; those serving one are left to finish.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Node counts a connection as active until its first request completes, so `server.close()` (and Fastify's
 * idle-connection closing) waits for a socket that was opened and never used, until the client hangs up.
 * Browsers open such sockets ahead of need: one tab on the browser view kept SIGTERM waiting (15 s, then
 * SIGKILL, in test/e2e/browser.test.ts).
 */
export function closeUnusedSocketsOnClose(app: FastifyInstance): void {
  /** Open sockets and how many requests each is serving. */
  const inFlight = new Map<Socket, number>();
  app.server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    response.once('close', () => {
      if (inFlight.has(socket)) inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1);
    });
  });
  app.addHook('preClose', async () => {
    for (const [socket, requests] of inFlight) if (requests === 0) socket.destroy();
  });
}
