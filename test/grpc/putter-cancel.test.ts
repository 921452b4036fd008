// Regression: an ingest through gRPC that failed after more than one putter batch (8 MiB) of Directories left its
// DirectoryService.Put call open until the connection closed; the peer held a half graph and a stream for nothing.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { MemoryDirectoryService, PUTTER_BATCH_BYTES, type CallOptions, type DirectoryPutter } from '../../src/castore/index.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar } from '../../src/store/index.js';
import { memoryStore, startLoopback, type Loopback } from './loopback.js';

/** Records the signal of every putter the server opens: it aborts when the client cancels the Put call. */
class WatchedDirectoryService extends MemoryDirectoryService {
  #resolve: (signal: AbortSignal) => void = () => undefined;
  /** The signal of the first putter the server opened. */
  readonly opened = new Promise<AbortSignal>((resolve) => (this.#resolve = resolve));
  override putter(opts?: CallOptions): DirectoryPutter {
    if (opts?.signal) this.#resolve(opts.signal);
    return super.putter(opts);
  }
}

const TARGET_BYTES = 200;
const LINKS_PER_DIRECTORY = 1000;

/** Distinct directories of 1000 long symlinks each, comfortably past one putter batch; the NAR is then cut short. */
async function* bigTree(): AsyncGenerator<NarEvent> {
  yield { type: 'directory', name: null };
  const directories = Math.ceil((1.5 * PUTTER_BATCH_BYTES) / (LINKS_PER_DIRECTORY * TARGET_BYTES));
  for (let d = 0; d < directories; d++) {
    const target = Buffer.alloc(TARGET_BYTES, `${d}-`);
    yield { type: 'directory', name: Buffer.from(`d${String(d).padStart(4, '0')}`) };
    for (let l = 0; l < LINKS_PER_DIRECTORY; l++) yield { type: 'symlink', name: Buffer.from(`l${String(l).padStart(4, '0')}`), target };
    yield { type: 'end' };
  }
  yield { type: 'end' };
}

async function* truncated(source: AsyncIterable<Uint8Array>, dropBytes: number): AsyncGenerator<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const piece of source) pieces.push(piece);
  const all = Buffer.concat(pieces);
  yield all.subarray(0, all.byteLength - dropBytes);
}

let loopback: Loopback | undefined;
afterEach(async () => {
  await loopback?.close();
  loopback = undefined;
});

it('a failed ingest cancels its DirectoryService.Put call at once', async () => {
  const directories = new WatchedDirectoryService();
  loopback = await startLoopback('tcp', { ...memoryStore(), directories });
  const castore = { blobs: loopback.blobs, directories: loopback.directories };

  const failure = await ingestNar(truncated(writeNar(bigTree()), 16), castore).then(
    () => null,
    (err: unknown) => err,
  );
  expect(failure).toMatchObject({ code: 'NB_ERR_NAR_MALFORMED' });
  // More than one batch was put, so the server has seen (or is about to see) a Put call.
  const signal = await directories.opened;
  // Before the fix the call stayed open until the connection closed; promptly means well within a few seconds.
  const outcome = signal.aborted ? 'cancelled' : await Promise.race([once(signal, 'abort').then(() => 'cancelled'), sleep(3_000).then(() => 'still open')]);
  expect(outcome).toBe('cancelled');
});
