// A response body made of blob stream chunks, each handed back to the read buffer pool once the socket took its bytes.
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { releaseReadBuffer } from '../castore/index.js';

/**
 * The body to send on `res` (and only there: a transform after it would hold chunks this cannot see; one before it,
 * such as a container framing, is fine as long as it is done with a chunk once it yielded it). Bytes not yet
 * sent are those in the body's buffer and in the response's, which counts the socket's writes until the kernel took
 * them (and the headers, which only makes the estimate safer); every chunk yielded before them went out.
 */
export function releasingBody(chunks: AsyncIterable<Uint8Array>, res: ServerResponse): Readable {
  const unsent: Array<{ chunk: Uint8Array; end: number }> = [];
  let yielded = 0;
  const releaseSent = (sentBytes: number) => {
    for (let first = unsent[0]; first && first.end <= sentBytes; first = unsent[0]) {
      unsent.shift();
      releaseReadBuffer(first.chunk);
    }
  };
  // Resumed only once the previous chunk was pushed into the body: it is counted in one of the two lengths.
  async function* sending(): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of chunks) {
      releaseSent(yielded - body.readableLength - res.writableLength);
      yielded += chunk.byteLength;
      unsent.push({ chunk, end: yielded });
      yield chunk;
    }
  }
  const body = Readable.from(sending(), { objectMode: false });
  // 'finish': everything was handed to the kernel. A response cut short never gets here: its chunks are left to the GC.
  res.once('finish', () => releaseSent(yielded));
  return body;
}
