import { describe, expect, it } from 'vitest';
import { SymlinkTarget } from '../../src/castore/index.js';
import { fingerprintPath, generateSigningKey, NixHash, Signature, StorePath, type StorePathDigest } from '../../src/nix/index.js';
import type { CallOptions } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { MemoryPathInfoService, NarCalculator, SigningPathInfoService, type PathInfo, type PathInfoService, type SigningLog } from '../../src/store/index.js';
import { memoryStore } from './memory-store.js';

const PATH = StorePath.parseBasename('7r1prhqk1w9qykcclfckkcww64ax9341-x');
const DEP = StorePath.parseBasename('x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt');
const NODE = { kind: 'symlink', target: SymlinkTarget.parse(new TextEncoder().encode('/nix/store/x')) } as const;
// A symlink's NAR needs no stored objects, so any castore renders it.
const calculator = new NarCalculator(memoryStore());
const FACTS = await calculator.calculate(NODE);
const INFO: PathInfo = {
  storePath: PATH,
  node: NODE,
  references: [DEP],
  narHash: NixHash.fromDigest('sha256', FACTS.narSha256),
  narSize: FACTS.narSize,
  signatures: [],
};
const signer = (inner: PathInfoService, keys = [ours], log?: SigningLog) => new SigningPathInfoService(inner, keys, calculator, log);
const ours = generateSigningKey('cache-1');
const uploader = generateSigningKey('uploader-1');
const FINGERPRINT = fingerprintPath(INFO.storePath, INFO.narHash, INFO.narSize, INFO.references);

/** A store that refuses writes, as a far store we may only read (or a full disk) does. */
class ReadOnlyPathInfoService implements PathInfoService {
  constructor(private readonly inner: PathInfoService) {}
  get(digest: StorePathDigest, opts?: CallOptions) {
    return this.inner.get(digest, opts);
  }
  async put(): Promise<void> {
    throw new NarBridgeError('NB_ERR_STORAGE', 'read-only');
  }
  list(opts?: CallOptions) {
    return this.inner.list(opts);
  }
}

/** The first get reads at once but answers only on release(): a read that was overtaken by a write. */
class StaleReadPathInfoService implements PathInfoService {
  readonly #released: Promise<void>;
  release: () => void = () => undefined;
  #first = true;
  constructor(private readonly inner: PathInfoService) {
    this.#released = new Promise((resolve) => (this.release = resolve));
  }
  async get(digest: StorePathDigest, opts?: CallOptions) {
    const info = await this.inner.get(digest, opts);
    if (this.#first) {
      this.#first = false;
      await this.#released;
    }
    return info;
  }
  put(info: PathInfo, opts?: CallOptions) {
    return this.inner.put(info, opts);
  }
  list(opts?: CallOptions) {
    return this.inner.list(opts);
  }
}

describe('SigningPathInfoService', () => {
  it('appends our signature after the uploader’s, verifiable with our public key', async () => {
    const inner = new MemoryPathInfoService();
    const signing = signer(inner);
    await signing.put({ ...INFO, signatures: [uploader.sign(FINGERPRINT)] });
    const stored = await inner.get(PATH.digest);
    expect(stored?.signatures.map((s) => s.keyName)).toEqual(['uploader-1', 'cache-1']);
    expect(ours.publicKey().verify(FINGERPRINT, stored!.signatures[1]!)).toBe(true);
    expect(uploader.publicKey().verify(FINGERPRINT, stored!.signatures[0]!)).toBe(true);
  });

  it('does not duplicate our signature when a served narinfo comes back', async () => {
    const inner = new MemoryPathInfoService();
    const signing = signer(inner);
    await signing.put(INFO);
    const served = await signing.get(PATH.digest);
    await signing.put(served!);
    expect((await inner.get(PATH.digest))?.signatures.map(String)).toEqual([String(ours.sign(FINGERPRINT))]);
  });

  it('drops a forged signature under our key name and adds the real one', async () => {
    const inner = new MemoryPathInfoService();
    const forged = Signature.fromParts('cache-1', new Uint8Array(64).fill(7));
    await signer(inner).put({ ...INFO, signatures: [forged] });
    expect((await inner.get(PATH.digest))?.signatures.map(String)).toEqual([String(ours.sign(FINGERPRINT))]);
  });

  it('signs on get a PathInfo stored before the key was configured, with every key, and keeps the signatures', async () => {
    const inner = new MemoryPathInfoService();
    await inner.put(INFO);
    const second = generateSigningKey('cache-2');
    const served = await signer(inner, [ours, second]).get(PATH.digest);
    expect(served?.signatures.map((s) => s.keyName)).toEqual(['cache-1', 'cache-2']);
    expect(second.publicKey().verify(FINGERPRINT, served!.signatures[1]!)).toBe(true);
    // Written back, so the next read (this process or the next) signs nothing.
    expect((await inner.get(PATH.digest))?.signatures.map(String)).toEqual(served?.signatures.map(String));
  });

  it('lists a PathInfo it has not verified without our signature, and never with a forged one', async () => {
    const inner = new MemoryPathInfoService();
    await inner.put({ ...INFO, signatures: [Signature.fromParts('cache-1', new Uint8Array(64).fill(7)), uploader.sign(FINGERPRINT)] });
    const listed = [];
    for await (const info of signer(inner).list()) listed.push(info);
    expect(listed[0]?.signatures.map((s) => s.keyName)).toEqual(['uploader-1']);
  });

  it('still serves the signed PathInfo when it cannot be written back', async () => {
    const inner = new MemoryPathInfoService();
    await inner.put(INFO);
    const warnings: object[] = [];
    const signing = signer(new ReadOnlyPathInfoService(inner), [ours], { warn: (fields) => warnings.push(fields) });
    const served = await signing.get(PATH.digest);
    expect(served?.signatures.map(String)).toEqual([String(ours.sign(FINGERPRINT))]);
    expect(warnings).toHaveLength(1);
    expect((await inner.get(PATH.digest))?.signatures).toEqual([]);
  });

  it('never writes back over a PathInfo put while the first read was in flight', async () => {
    const inner = new MemoryPathInfoService();
    await inner.put(INFO);
    const slow = new StaleReadPathInfoService(inner);
    const signing = signer(slow);
    const reading = signing.get(PATH.digest); // reads the unsigned INFO, then waits
    const replacement: PathInfo = { ...INFO, narSize: 577, signatures: [] };
    await signing.put(replacement);
    slow.release();
    const served = await reading;
    expect(served?.narSize).toBe(577);
    expect((await inner.get(PATH.digest))?.narSize).toBe(577);
  });

  // Regression (issue 10): a name alone counted as our signature, so a forged one was served as ours.
  it('never serves a stored signature under our key name that does not verify, and signs the verified path itself', async () => {
    const inner = new MemoryPathInfoService();
    const forged = Signature.fromParts('cache-1', new Uint8Array(64).fill(7));
    await inner.put({ ...INFO, signatures: [forged] });
    const served = await signer(inner).get(PATH.digest);
    expect(served?.signatures.map(String)).toEqual([String(ours.sign(FINGERPRINT))]);
  });

  it('does not sign on read a stored PathInfo whose NarSize/NarHash its graph does not render to', async () => {
    const inner = new MemoryPathInfoService();
    const lie: PathInfo = { ...INFO, narSize: 999, signatures: [Signature.fromParts('cache-1', new Uint8Array(64).fill(7))] };
    await inner.put(lie);
    const warnings: object[] = [];
    const served = await signer(inner, [ours], { warn: (fields) => warnings.push(fields) }).get(PATH.digest);
    expect(served?.signatures).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect((await inner.get(PATH.digest))?.signatures.map(String)).toEqual(lie.signatures.map(String));
  });

  it('answers a miss with null', async () => {
    expect(await signer(new MemoryPathInfoService()).get(DEP.digest)).toBeNull();
  });
});
