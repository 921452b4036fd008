// The upload idle timer (src/http/limits.ts) against a real node:http server and client on loopback.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { idleLimited } from '../../src/http/limits.js';

const IDLE_MS = 50;
let server: http.Server | undefined;
let client: http.ClientRequest | undefined;
// Keep-alive, so a `Connection: close` in a response can only come from the server deciding to close.
let agent: http.Agent | undefined;

afterEach(async () => {
  client?.destroy();
  agent?.destroy();
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  client = undefined;
  agent = undefined;
});

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<number> {
  server = http.createServer((req, res) => void handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Sends `first` and keeps the request open; returns the response once it starts. */
async function put(port: number, first: Uint8Array, rest?: Uint8Array): Promise<http.IncomingMessage> {
  agent = new http.Agent({ keepAlive: true });
  client = http.request({ port, host: '127.0.0.1', method: 'PUT', agent });
  client.on('error', () => undefined); // the server may close first
  client.write(first);
  if (rest) client.end(rest);
  const [res] = (await once(client, 'response')) as [http.IncomingMessage];
  return res;
}

async function text(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('idleLimited', () => {
  /** A server reading each body through idleLimited, spending `perChunk` on each chunk; a failure answers 400. */
  async function serveIdleLimited(perChunk: () => Promise<void>, failures: unknown[]): Promise<number> {
    return serve(async (req, res) => {
      try {
        for await (const _ of idleLimited({ raw: req, bodyBytes: 0 }, IDLE_MS)) await perChunk();
      } catch (err) {
        failures.push(err);
        res.statusCode = 400;
        res.end('stalled');
      }
    });
  }

  it('refuses a client that stops sending', async () => {
    const failures: unknown[] = [];
    const port = await serveIdleLimited(async () => undefined, failures);
    const res = await put(port, new Uint8Array(8));
    expect(res.statusCode).toBe(400);
    expect(failures).toHaveLength(1);
    expect(NarBridgeError.is(failures[0]) && failures[0].code).toBe('NB_ERR_TIMEOUT');
  });

  // Regression: the timer kept running while the consumer held a chunk, and closed the connection of a consumer
  // that was merely slower than the idle time (or threw ERR_HTTP_HEADERS_SENT once it had answered).
  it('does not count time the consumer spends on a chunk', async () => {
    const port = await serve(async (req, res) => {
      let bytes = 0;
      for await (const chunk of idleLimited({ raw: req, bodyBytes: 0 }, IDLE_MS)) {
        bytes += chunk.byteLength;
        await delay(IDLE_MS * 3);
      }
      res.end(String(bytes));
    });
    const res = await put(port, new Uint8Array(8), new Uint8Array(8));
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('keep-alive');
    expect(Number(await text(res))).toBe(16);
  });

  // The one timer fires while the consumer holds a chunk (and does nothing then): the next wait must still be timed.
  it('refuses a client that stalls after the consumer was slow on a chunk', async () => {
    const failures: unknown[] = [];
    const port = await serveIdleLimited(() => delay(IDLE_MS * 3), failures);
    const res = await put(port, new Uint8Array(8));
    expect(res.statusCode).toBe(400);
    expect(NarBridgeError.is(failures[0]) && failures[0].code).toBe('NB_ERR_TIMEOUT');
  });
});
