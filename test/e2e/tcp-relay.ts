// A TCP relay that can be cut and restored, to take a service (S3, PostgreSQL) away from a running server and give
// it back, without touching the shared service itself.
import net from 'node:net';
import { onCleanup } from './harness.js';

export interface TcpRelay {
  /** `http://127.0.0.1:PORT`, for HTTP services. */
  readonly url: string;
  readonly port: number;
  /** Drops every open connection and refuses new ones (accepted, then closed at once). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startRelay(target: { hostname: string; port: string | number }): Promise<TcpRelay> {
  let up = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  const relay: TcpRelay = {
    url: `http://127.0.0.1:${port}`,
    port,
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      up = true;
    },
    close: () => {
      if (!server.listening) return Promise.resolve();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy(); // the server's keep-alive connections would hold close() open
      return closed;
    },
  };
  onCleanup(() => relay.close());
  return relay;
}
