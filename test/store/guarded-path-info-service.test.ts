// The gate every PathInfo write passes: verification (once), immutability and signature merging.
import { describe, expect, it } from 'vitest';
import { MemoryBlobService, type B3Digest, type ReadOptions } from '../../src/castore/index.js';
import { NixHash, Signature, StorePath } from '../../src/nix/index.js';
import { composeStore, NarCalculator, verifiedByIngest, type PathInfo, type Store } from '../../src/store/index.js';
import { memoryStore } from './memory-store.js';

/** Counts blob reads: a render reads every blob, a skipped render none. */
class CountingBlobService extends MemoryBlobService {
  reads = 0;
  override openRead(digest: B3Digest, opts?: ReadOptions) {
    this.reads++;
    return super.openRead(digest, opts);
  }
}

const PATH = StorePath.parseBasename('7r1prhqk1w9qykcclfckkcww64ax9341-file');

async function fileInfo(store: Store, bytes: number[]): Promise<PathInfo> {
  const writer = store.blobs.openWrite();
  await writer.write(new Uint8Array(bytes));
  const node = { kind: 'file', digest: await writer.close(), size: bytes.length, executable: false } as const;
  const facts = await new NarCalculator(store).calculate(node);
  return { storePath: PATH, node, references: [], narHash: NixHash.fromDigest('sha256', facts.narSha256), narSize: facts.narSize, signatures: [] };
}

function countingStore(): Store & { blobs: CountingBlobService } {
  return { ...memoryStore(), blobs: new CountingBlobService() };
}

const sig = (name: string, fill: number) => Signature.fromParts(name, new Uint8Array(64).fill(fill));

describe('GuardedPathInfoService', () => {
  it('renders an untrusted put once, and a put verified at ingest not at all', async () => {
    const backends = countingStore();
    const info = await fileInfo(backends, [1, 2, 3]);
    backends.blobs.reads = 0;
    const { pathInfos } = composeStore(backends);
    await pathInfos.putVerified(verifiedByIngest(info, info));
    expect(backends.blobs.reads).toBe(0);
    // The same contents again, untrusted: the ingest's facts are remembered, so no render either.
    await pathInfos.put({ ...info, signatures: [sig('a-1', 1)] });
    expect(backends.blobs.reads).toBe(0);

    const fresh = countingStore();
    const other = await fileInfo(fresh, [4, 5]);
    fresh.blobs.reads = 0;
    await composeStore(fresh).pathInfos.put(other);
    expect(fresh.blobs.reads).toBe(1);
  });

  it('merges signatures of the same contents, deduplicated, and keeps the stored metadata', async () => {
    const backends = memoryStore();
    const info = await fileInfo(backends, [1]);
    const { pathInfos } = composeStore(backends);
    await pathInfos.put({ ...info, signatures: [sig('a-1', 1)] });
    await pathInfos.put({ ...info, signatures: [sig('b-1', 2), sig('a-1', 1)], references: [PATH] });
    const held = await backends.pathInfos.get(PATH.digest);
    expect(held?.signatures.map(String)).toEqual([sig('a-1', 1), sig('b-1', 2)].map(String));
    expect(held?.references).toEqual([]);
  });

  it('lets exactly one of two concurrent puts of different contents for a new path in', async () => {
    const backends = memoryStore();
    const a = await fileInfo(backends, [1]);
    const b = await fileInfo(backends, [2, 2]);
    const { pathInfos } = composeStore(backends);
    const results = await Promise.allSettled([pathInfos.put(a), pathInfos.put(b)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'NB_ERR_FORBIDDEN' } });
    expect((await backends.pathInfos.get(PATH.digest))?.narSize).toBe(a.narSize);
  });
});
