// Lets the server close while clients hold connections they have not used: on close, sockets that never carried a
// request are destroyed; Node closes the idle ones that did, and leaves those serving one to finish.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Node counts a connection as active until its first request completes, so `server.close()` (and Fastify's
 * idle-connection closing) waits for a socket that was opened and never used, until the client hangs up.
 * Browsers open such sockets ahead of need: one tab on the browser view kept SIGTERM waiting (15 s, then
 * SIGKILL, in test/e2e/browser.test.ts).
 */
export function closeUnusedSocketsOnClose(app: FastifyInstance): void {
  /** Open sockets that have not carried a request yet. Once used, a socket is Node's: server.close() closes it when idle. */
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  // A set deletion per request, no listener or closure: this runs on the narinfo hot path.
  app.server.on('request', (request: IncomingMessage) => unused.delete(request.socket));
  app.addHook('preClose', async () => {
    for (const socket of unused) socket.destroy();
  });
}
