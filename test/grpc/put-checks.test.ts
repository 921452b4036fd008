// A PathInfo written over gRPC is checked as an HTTP upload is: its NarHash/NarSize against the graph it names,
// every object present, the upload policy, immutability, and never signed with our key unless it passed.
// Regression: a Put of a 1-byte file claiming narSize 999 and an invented NarHash was stored, and then served
// over HTTP signed with the cache's key (issue 10).
import { status as Status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { B3Digest, DirectoryBuilder, PathComponent, type Node } from '../../src/castore/index.js';
import { fingerprintPath, generateSigningKey, NixHash, Signature, StorePath } from '../../src/nix/index.js';
import { buildServer } from '../../src/http/index.js';
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
  return put.then(
    () => 'accepted',
    (err: unknown) => err,
  );
}

describe('gRPC PathInfoService.Put checks what it stores', () => {
  it('refuses a forged NarSize and NarHash with INVALID_ARGUMENT and stores nothing', async () => {
    const store = memoryStore();
    loopback = await startLoopback('tcp', store);
    const node = await storeOneByteFile(store);
    const forged: PathInfo = { storePath: PATH, node, references: [], narHash: INVENTED, narSize: 999, signatures: [] };
    expect(await refusal(loopback.pathInfos.put(forged))).toMatchObject({ message: expect.stringMatching(/INVALID_ARGUMENT: .*NarSize 999 is not/) });
    const right = await honest(store, node);
    expect(await refusal(loopback.pathInfos.put({ ...right, narHash: INVENTED }))).toMatchObject({
      message: expect.stringMatching(/INVALID_ARGUMENT: .*NarHash is not/),
    });
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
    expect(await refusal(loopback.pathInfos.put(info))).toMatchObject({
      code: 'NB_ERR_MISSING_OBJECT',
      message: expect.stringMatching(/FAILED_PRECONDITION: blob .* is missing/),
    });
    expect(await store.pathInfos.get(PATH.digest)).toBeNull();
  });
});

describe('gRPC PathInfoService.Put meets the same policy and signing as HTTP', () => {
  it('refuses an unsigned path under --require-signed-uploads with PERMISSION_DENIED', async () => {
    const store = memoryStore();
    const trusted = generateSigningKey('trusted-1');
    loopback = await startLoopback('tcp', store, { uploadPolicy: { requireSigned: true, trustedKeys: [trusted.publicKey()] } });
    const info = await honest(store, await storeOneByteFile(store));
    expect(await refusal(loopback.pathInfos.put(info))).toMatchObject({
      cause: { code: Status.PERMISSION_DENIED, details: expect.stringMatching(/not signed by a trusted key \(trusted-1\)/) },
    });
    expect(await store.pathInfos.get(PATH.digest)).toBeNull();
    await loopback.pathInfos.put({ ...info, signatures: [trusted.sign(fingerprintOf(info))] });
    expect(await store.pathInfos.get(PATH.digest)).not.toBeNull();
  });

  it('never serves over HTTP a signature under our key name that the gRPC uploader forged; our real one instead', async () => {
    const store = memoryStore();
    const ours = generateSigningKey('cache-1');
    loopback = await startLoopback('tcp', store, { signingKeys: [ours] });
    const info = await honest(store, await storeOneByteFile(store));
    const forged = Signature.fromParts('cache-1', new Uint8Array(64).fill(7));
    await loopback.pathInfos.put({ ...info, signatures: [forged] });
    const app = await buildServer({ store: loopback.served, priority: 40 });
    try {
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const text = await (await fetch(`${base}/${PATH.hashPart}.narinfo`)).text();
      expect(text.match(/^Sig: .*$/gm)).toEqual([`Sig: ${String(ours.sign(fingerprintOf(info)))}`]);
      // A forged NarSize never got in, so nothing is there to be signed on read.
      const other = StorePath.parseBasename('11bgd045z0d4icpbc2yyz4gx48ak44la-liar');
      expect(await refusal(loopback.pathInfos.put({ ...info, storePath: other, narSize: 999 }))).not.toBe('accepted');
      expect((await fetch(`${base}/${other.hashPart}.narinfo`)).status).toBe(404);
    } finally {
      await app.close();
    }
  });
});

function fingerprintOf(info: PathInfo): string {
  return fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
}
