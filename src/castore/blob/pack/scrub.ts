// Scrubbing: every record re-read and fully re-hashed (blake3), pack by pack in file order, and every chunk list
// checked to name only intact chunks. What `nar-bridge verify` is built on.
import { type B3Digest, blake3 } from '../../digest.js';
import { checkedPayload, RECORD_HEADER_BYTES } from './format.js';
import type { PackBlobService } from './pack-blob-service.js';
import type { IndexedRecord } from './pack-index.js';
import { planRuns } from './pack-reader.js';

/** Bytes read at once while scrubbing: sequential reads this large run at disk speed. */
const SCRUB_RUN_BYTES = 8 * 1024 * 1024;
/** Records planned at once. */
const SCRUB_BATCH = 2000;

export interface CorruptObject {
  readonly digest: B3Digest;
  /** Where the damage is, as a person would want to find it. */
  readonly where: string;
  readonly why: string;
}

export interface ScrubProgress {
  readonly records: number;
  readonly bytes: number;
}

/** Yields each object (record, or chunked blob through a damaged or missing chunk) that is not what it should be. */
export async function* scrubPacks(packs: PackBlobService, progress?: (p: ScrubProgress) => void): AsyncGenerator<CorruptObject, void, undefined> {
  const bad = new Set<string>();
  let records = 0;
  let bytes = 0;
  let batch: IndexedRecord[] = [];
  const check = async function* (this: void): AsyncGenerator<CorruptObject, void, undefined> {
    const runs = planRuns(
      batch.map((r) => ({ digest: r.digest, place: r })),
      SCRUB_RUN_BYTES,
    );
    batch = [];
    for (const run of runs) {
      // An unreadable pack is reported per record below: every one of them is unreadable.
      const data = await packs.reader
        .read(run.pack, run.start, run.end - run.start)
        .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
      for (const { digest, place } of run.records) {
        const payload = typeof data === 'string' ? data : checkedPayload(data, place.offset - run.start, digest, place.size);
        const why = typeof payload === 'string' ? payload : blake3(payload).equals(digest) ? null : 'bytes do not hash to its digest';
        records++;
        bytes += RECORD_HEADER_BYTES + place.size;
        if (why === null) continue;
        bad.add(digest.toHex());
        yield { digest, where: `pack ${place.pack} at ${place.offset}`, why };
      }
      progress?.({ records, bytes });
    }
  };
  for (const record of packs.index.allRecords()) {
    batch.push(record);
    if (batch.length >= SCRUB_BATCH) yield* check();
  }
  yield* check();
  for (const list of packs.index.allChunkLists()) {
    const places = packs.index.places(list.chunks.map((c) => c.digest));
    const broken = list.chunks.find((c, i) => bad.has(c.digest.toHex()) || places[i]?.size !== c.size);
    if (broken)
      yield { digest: list.digest, where: 'chunk list', why: `chunk ${broken.digest.toHex()} is ${bad.has(broken.digest.toHex()) ? 'damaged' : 'missing'}` };
  }
}
