// bzip2 has no stored mode: a client that pushed with compression=bzip2 gets the NAR compressed again, by Debian's
// bzip2 (the fastest level: the answer is rebuilt on every request), streamed with backpressure both ways.
import { throughProcess } from './child-process.js';

/** -1: 100 kB blocks, the least CPU and memory per request; the ratio matters less than the cost here. */
const BZIP2 = ['bzip2', '--compress', '--stdout', '-1'] as const;

export function bzip2Compress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  return throughProcess(BZIP2, source);
}
