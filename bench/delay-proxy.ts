// A TCP proxy on loopback that delays every byte by half a round trip each way: added RTT without a network
// namespace (tc netem needs one). Order is kept (timers of equal delay fire in the order they were set); a
// direction with too much in flight pauses its reader, so a fast sender cannot fill memory.
import { once } from 'node:events';
import net from 'node:net';

/** Bytes delayed in one direction before its reader is paused. */
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;

export interface DelayProxy {
  readonly port: number;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }, rttMs: number): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    relay(client, upstream, rttMs / 2);
    relay(upstream, client, rttMs / 2);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('delay proxy has no port');
  return {
    port: address.port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function relay(from: net.Socket, to: net.Socket, delayMs: number): void {
  let inFlight = 0;
  from.on('data', (chunk: Buffer) => {
    inFlight += chunk.byteLength;
    if (inFlight > MAX_IN_FLIGHT_BYTES) from.pause();
    setTimeout(() => {
      inFlight -= chunk.byteLength;
      if (!to.destroyed) to.write(chunk);
      if (inFlight <= MAX_IN_FLIGHT_BYTES && from.isPaused()) from.resume();
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}
