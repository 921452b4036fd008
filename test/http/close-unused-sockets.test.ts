// Closing the server (SIGTERM) does not wait for clients' unused connections, and still finishes requests in flight.
import { once } from 'node:events';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, expect, test } from 'vitest';
import { buildServer } from '../../src/http/index.js';
import { servedMemoryStore } from '../store/memory-store.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(configure: (app: FastifyInstance) => void = () => {}): Promise<{ app: FastifyInstance; port: number }> {
  const store = servedMemoryStore();
  const server = await buildServer({ store, priority: 40 });
  app = server;
  configure(server);
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app: server, port: address.port };
}

// Regression: a socket a browser opened ahead of need kept SIGTERM waiting until the test harness's SIGKILL.
test('a connection that never sent a request is closed, not waited for', async () => {
  const { app: server, port } = await start();
  const accepted = once(server.server, 'connection');
  const socket = net.connect(port, '127.0.0.1');
  await accepted;
  const closed = once(socket, 'close');
  await server.close();
  await closed;
  expect(socket.destroyed).toBe(true);
});

test('a kept-alive connection between requests is closed too', async () => {
  const { app: server, port } = await start();
  const socket = net.connect(port, '127.0.0.1');
  socket.write('GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n');
  const [reply] = (await once(socket, 'data')) as [Buffer];
  expect(reply.toString()).toMatch(/^HTTP\/1\.1 200 /);
  const closed = once(socket, 'close');
  await server.close();
  await closed;
});

test('a request in flight when closing starts is answered in full', async () => {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  let arrived = () => {};
  const inHandler = new Promise<void>((resolve) => (arrived = resolve));
  const { app: server, port } = await start((s) =>
    s.get('/test-slow', async () => {
      arrived();
      await gate;
      return 'finished';
    }),
  );
  const response = fetch(`http://127.0.0.1:${port}/test-slow`);
  await inHandler;
  const closing = server.close();
  release();
  const res = await response;
  expect([res.status, await res.text()]).toEqual([200, 'finished']);
  await closing;
});
