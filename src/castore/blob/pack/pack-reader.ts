// PackReader: positioned reads on long-lived pack file descriptors, and read plans that fetch records lying next to
// each other (a tree's small files, a big file's chunks, all written in NAR order) with one large read.
import { close as closeCb, open as openCb, read as readCb } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NarBridgeError } from '../../../errors.js';
import type { B3Digest } from '../../digest.js';
import { checkedPayload, packFileName, RECORD_HEADER_BYTES } from './format.js';
import type { EncodedChunks, RecordPlace } from './pack-index.js';

/**
 * Records further apart than this are read separately; closer ones are read together with the gap (bytes of
 * another ingest written between them, or an object stored before): one read beats two syscalls for small gaps.
 */
const MAX_GAP_BYTES = 64 * 1024;

const fdOpen = promisify(openCb);
const fdClose = promisify(closeCb);
const fdRead = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => readCb(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));

export interface WantedRecord {
  readonly digest: B3Digest;
  readonly place: RecordPlace;
}

/** Records read with one syscall: consecutive in the plan, in one pack, in file order, close together. */
export interface Run<R extends WantedRecord = WantedRecord> {
  readonly pack: number;
  readonly start: number;
  readonly end: number;
  readonly records: readonly R[];
}

/**
 * Splits `records` (kept in order) into runs of at most `maxRunBytes` (a single larger record is a run of its own);
 * records at most `maxGapBytes` apart share a run.
 */
export function planRuns<R extends WantedRecord>(records: readonly R[], maxRunBytes: number, maxGapBytes = MAX_GAP_BYTES): Array<Run<R>> {
  const runs: Array<Run<R>> = [];
  let current: { pack: number; start: number; end: number; records: R[] } | null = null;
  for (const record of records) {
    const { pack, offset, size } = record.place;
    const end = offset + RECORD_HEADER_BYTES + size;
    if (current && current.pack === pack && offset >= current.end && offset - current.end <= maxGapBytes && end - current.start <= maxRunBytes) {
      current.records.push(record);
      current.end = end;
      continue;
    }
    current = { pack, start: offset, end, records: [record] };
    runs.push(current);
  }
  return runs;
}

/** A record a readMany reads, and every slot of the batch that asked for it. */
export interface BatchRecord extends WantedRecord {
  readonly slots: number[];
}

/**
 * Chunks placed per lookup while a chunked blob streams: places are looked up as the stream gets to them, so a
 * stream holds a window's records (8 MiB of 128 KiB chunks), not the whole blob's.
 */
const PLACED_WINDOW_CHUNKS = 64;

/**
 * A chunked blob's chunks from `first` on, with their places (`placesOf` answers in the order asked), a window at a
 * time; a chunk without one is damage.
 */
export async function* placedWindows(
  list: EncodedChunks,
  first: number,
  placesOf: (digests: readonly B3Digest[]) => ReadonlyArray<RecordPlace | undefined> | Promise<ReadonlyArray<RecordPlace | undefined>>,
  windowChunks = PLACED_WINDOW_CHUNKS,
): AsyncGenerator<WantedRecord[], void, undefined> {
  for (let at = first; at < list.length; at += windowChunks) {
    const chunks = list.slice(at, at + windowChunks);
    const places = await placesOf(chunks.map((c) => c.digest));
    yield chunks.map(({ digest }, i) => {
      const place = places[i];
      if (!place) throw new NarBridgeError('NB_ERR_STORAGE', `chunked blob ${list.blob.toHex()}: chunk ${digest.toHex()} is missing`);
      return { digest, place };
    });
  }
}

/**
 * Where the blobs asked of a readMany are: the records with a place, each once in the order first asked; and the
 * others (chunked blobs, or absent ones), to be read whole.
 */
export interface BatchPlan {
  readonly wanted: readonly BatchRecord[];
  readonly unplaced: ReadonlyArray<{ readonly slot: number; readonly digest: B3Digest }>;
}

/** `placeOf(digest, slot)`: the record holding the blob asked for in `slot`, if one does. */
export function planBatch(
  blobs: ReadonlyArray<{ readonly digest: B3Digest }>,
  placeOf: (digest: B3Digest, slot: number) => RecordPlace | undefined,
): BatchPlan {
  const wanted: BatchRecord[] = [];
  const unplaced: Array<{ slot: number; digest: B3Digest }> = [];
  // A record asked for twice (files with the same contents) is read once; found by its offset, which is cheaper to
  // key by than the digest, and checked by its pack.
  const byOffset = new Map<number, BatchRecord>();
  blobs.forEach(({ digest }, slot) => {
    const place = placeOf(digest, slot);
    if (!place) {
      unplaced.push({ slot, digest });
      return;
    }
    const asked = byOffset.get(place.offset);
    if (asked?.place.pack === place.pack) {
      asked.slots.push(slot);
      return;
    }
    const record = { digest, place, slots: [slot] };
    byOffset.set(place.offset, record);
    wanted.push(record);
  });
  return { wanted, unplaced };
}

/** Puts each payload `run` gave into every slot that asked for its record. */
export function fillSlots(results: Array<Uint8Array | null>, run: Run<BatchRecord>, payloads: readonly Uint8Array[]): void {
  run.records.forEach((record, i) => {
    for (const slot of record.slots) results[slot] = payloads[i] ?? null;
  });
}

/** An open pack: reads in flight hold it open, so a pack deleted by GC is closed only once they are done. */
interface OpenPack {
  readonly fd: Promise<number>;
  readers: number;
  forgotten: boolean;
}

export class PackReader {
  readonly #fds = new Map<number, OpenPack>();

  constructor(private readonly dir: string) {}

  /**
   * The payloads of a run's records, each checked against its header's checksums; a damaged one throws. They are
   * views of `into` when given (at least the run's length), else of a buffer of their own.
   */
  async readRun(run: Run, into?: Buffer): Promise<Buffer[]> {
    const bytes = await this.read(run.pack, run.start, run.end - run.start, into);
    return run.records.map(({ digest, place }) => {
      const payload = checkedPayload(bytes, place.offset - run.start, digest, place.size);
      if (typeof payload === 'string') throw damaged(digest, place, payload);
      return payload;
    });
  }

  /** `length` bytes at `position` of a pack (fewer only at its end), into the start of `into` when given. */
  async read(pack: number, position: number, length: number, into?: Buffer): Promise<Buffer> {
    const open = this.#open(pack);
    open.readers++;
    try {
      return await readAt(pack, await opened(pack, open.fd), position, into ? into.subarray(0, length) : Buffer.allocUnsafe(length));
    } finally {
      if (--open.readers === 0 && open.forgotten) void closeQuietly(open.fd);
    }
  }

  /** Closes pack `pack` (GC deleted it) once the reads using it are done; a later read opens it afresh. */
  forget(pack: number): void {
    const open = this.#fds.get(pack);
    if (!open) return;
    this.#fds.delete(pack);
    open.forgotten = true;
    if (open.readers === 0) void closeQuietly(open.fd);
  }

  /** forget() for every open pack not in `packs`. */
  forgetAllBut(packs: ReadonlySet<number>): void {
    for (const pack of [...this.#fds.keys()]) if (!packs.has(pack)) this.forget(pack);
  }

  async close(): Promise<void> {
    const packs = [...this.#fds.values()];
    this.#fds.clear();
    await Promise.all(packs.map((open) => closeQuietly(open.fd)));
  }

  #open(pack: number): OpenPack {
    let open = this.#fds.get(pack);
    if (!open) {
      const fd = fdOpen(join(this.dir, packFileName(pack)), 'r');
      const created: OpenPack = { fd, readers: 0, forgotten: false };
      open = created;
      this.#fds.set(pack, created);
      fd.catch(() => this.#fds.get(pack) === created && this.#fds.delete(pack)); // a missing pack may be restored; ask again next time
    }
    return open;
  }
}

async function closeQuietly(fd: Promise<number>): Promise<void> {
  try {
    await fdClose(await fd);
  } catch {
    // never opened, or already gone: nothing to release
  }
}

function opened(pack: number, fd: Promise<number>): Promise<number> {
  return fd.catch((err: unknown) => {
    throw new NarBridgeError('NB_ERR_STORAGE', `blob store: pack ${pack} cannot be opened`, { cause: err });
  });
}

async function readAt(pack: number, fd: number, position: number, buffer: Buffer): Promise<Buffer> {
  const length = buffer.byteLength;
  let filled = 0;
  try {
    while (filled < length) {
      const got = await fdRead(fd, buffer, filled, length - filled, position + filled);
      if (got === 0) break;
      filled += got;
    }
  } catch (err) {
    throw new NarBridgeError('NB_ERR_STORAGE', `blob store: reading pack ${pack} failed`, { cause: err });
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

export function damaged(digest: B3Digest, place: RecordPlace, why: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_STORAGE', `blob ${digest.toHex()} in pack ${place.pack} at ${place.offset} is damaged: ${why}`);
}
