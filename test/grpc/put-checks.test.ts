// A PathInfo written over gRPC is checked as an HTTP upload is: its NarHash/NarSize against the graph it names,
// every object present, the upload policy, immutability, and never signed with our key unless it passed.
// Regression: a Put of a 1-byte file claiming narSize 999 and an invented NarHash was stored, and then served
// over HTTP signed with the cache's key (issue 10).
import { afterEach, describe, expect, it } from 'vitest';
import { B3Digest, DirectoryBuilder, PathComponent, type Node } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { NarCalculator, type PathInfo, type Store } from '../../src/store/index.js';
import { startLoopback, type Loopback } from './loopback.js';
import { memoryStore } from '../store/memory-store.js';

let loopback: Loopback;
afterEach(async () => {
  expect(loopback.errors).toEqual([]);
  await loopback.close();
});

const PATH = StorePath.parseBasename('7r1prhqk1w9qykcclfckkcww64ax9341-one-byte');
const INVENTED = NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g');

async function storeOneByteFile(store: Store): Promise<Node> {
  const writer = store.blobs.openWrite();
  await writer.write(new Uint8Array([0x41]));
  const digest = await writer.close();
  return { kind: 'file', digest, size: 1, executable: false };
}

/** The PathInfo for `node` with its true NarHash and NarSize. */
async function honest(store: Store, node: Node, rest: Partial<PathInfo> = {}): Promise<PathInfo> {
  const facts = await new NarCalculator(store).calculate(node);
  return { storePath: PATH, node, references: [], narHash: NixHash.fromDigest('sha256', facts.narSha256), narSize: facts.narSize, signatures: [], ...rest };
}

async function refusal(put: Promise<unknown>): Promise<unknown> {
  return put.then(() => 'accepted', (err: unknown) => err);
}

describe('gRPC PathInfoService.Put checks what it stores', () => {
  it('refuses a forged NarSize and NarHash with INVALID_ARGUMENT and stores nothing', async () => {
    const store = memoryStore();
    loopback = await startLoopback('tcp', store);
    const node = await storeOneByteFile(store);
    const forged: PathInfo = { storePath: PATH, node, references: [], narHash: INVENTED, narSize: 999, signatures: [] };
    expect(await refusal(loopback.pathInfos.put(forged))).toMatchObject({ message: expect.stringMatching(/INVALID_ARGUMENT: .*NarSize 999 is not/) });
    const right = await honest(store, node);
    expect(await refusal(loopback.pathInfos.put({ ...right, narHash: INVENTED }))).toMatchObject({ message: expect.stringMatching(/INVALID_ARGUMENT: .*NarHash is not/) });
    expect(await store.pathInfos.get(PATH.digest)).toBeNull();
  });

  it('stores a PathInfo whose NarHash and NarSize are the graph’s', async () => {
    const store = memoryStore();
    loopback = await startLoopback('tcp', store);
    const info = await honest(store, await storeOneByteFile(store));
    await loopback.pathInfos.put(info);
    expect((await store.pathInfos.get(PATH.digest))?.narHash.equals(info.narHash)).toBe(true);
  });

  it('refuses a root Directory that names a blob nobody stored', async () => {
    const store = memoryStore();
    loopback = await startLoopback('tcp', store);
    const missing = B3Digest.fromHex('11'.repeat(32));
    const dir = new DirectoryBuilder().add(PathComponent.fromString('f'), { kind: 'file', digest: missing, size: 1, executable: false }).build();
    const putter = store.directories.putter();
    await putter.put(dir);
    const root = await putter.close();
    const node: Node = { kind: 'directory', digest: root, size: 1 };
    const info: PathInfo = { storePath: PATH, node, references: [], narHash: INVENTED, narSize: 128, signatures: [] };
    expect(await refusal(loopback.pathInfos.put(info))).toMatchObject({ code: 'NB_ERR_MISSING_OBJECT', message: expect.stringMatching(/FAILED_PRECONDITION: blob .* is missing/) });
    expect(await store.pathInfos.get(PATH.digest)).toBeNull();
  });
});
