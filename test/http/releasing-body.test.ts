// releasingBody: chunks lent from the read buffer pool go back to it only once the socket took their bytes, so a
// buffer is never refilled while a slow client still has its bytes queued.
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { streamReadBuffers } from '../../src/castore/index.js';
import { releasingBody } from '../../src/http/releasing-body.js';

const CHUNKS = 24;
const CHUNK_BYTES = streamReadBuffers.bufferBytes;

let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
});

/** Chunk `i` of stream `id`, every byte telling which it is. */
function fill(buffer: Buffer, id: number, i: number): void {
  buffer.fill((id * 64 + i) % 251);
}

/** What a blob stream does: reads into a pooled buffer, lends it out, drops it once resumed. */
async function* pooledChunks(id: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < CHUNKS; i++) {
    const lease = streamReadBuffers.take(CHUNK_BYTES);
    fill(lease.buffer, id, i);
    try {
      yield streamReadBuffers.lend(lease, lease.buffer.subarray(0, CHUNK_BYTES));
    } finally {
      streamReadBuffers.drop(lease);
    }
  }
}

/** The response body, read only after a pause (so chunks sit in the socket meanwhile), each byte checked. */
async function slowlyRead(url: string): Promise<number> {
  const res = get(url);
  const [response] = (await once(res, 'response')) as [import('node:http').IncomingMessage];
  response.pause();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const id = Number(new URL(url).pathname.slice(1));
  let at = 0;
  let wrong = 0;
  for await (const piece of response as AsyncIterable<Buffer>) {
    for (let k = 0; k < piece.byteLength; k++, at++) if (piece[k] !== (id * 64 + Math.floor(at / CHUNK_BYTES)) % 251) wrong++;
  }
  expect(at).toBe(CHUNKS * CHUNK_BYTES);
  return wrong;
}

it('hands every chunk back once sent, never while a slow client still has it queued', async () => {
  server = createServer((req, res) => {
    const id = Number(req.url?.slice(1));
    res.setHeader('content-length', String(CHUNKS * CHUNK_BYTES));
    releasingBody(pooledChunks(id), res).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const returnedBefore = streamReadBuffers.returned;
  const wrong = await Promise.all([1, 2, 3].map((id) => slowlyRead(`http://127.0.0.1:${port}/${id}`)));
  expect(wrong).toEqual([0, 0, 0]);
  await expect.poll(() => streamReadBuffers.returned - returnedBefore).toBe(3 * CHUNKS);
});
