import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import {
  contentAddressedPath,
  fingerprintPath,
  generateSigningKey,
  NixHash,
  parseContentAddress,
  StorePath,
  type ContentAddress,
} from '../../src/nix/index.js';
import { checkUploadPolicy, ingestNar, NarCalculator, type PathInfo, type UploadPolicy } from '../../src/store/index.js';
import { nar, str } from '../nar/nar-bytes.js';

const trusted = generateSigningKey('trusted-1');
const stranger = generateSigningKey('stranger-1');
const POLICY: UploadPolicy = { trustedKeys: [trusted.publicKey()], requireSigned: true };
const OTHER = StorePath.parseBasename('x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt');

const fileNar = (contents: string, executable = false) =>
  nar('nix-archive-1', '(', 'type', 'regular', ...(executable ? ['executable', ''] : []), 'contents', str(contents), ')');
const dirNar = () =>
  nar('nix-archive-1', '(', 'type', 'directory', 'entry', '(', 'name', 'a', 'node', '(', 'type', 'regular', 'contents', str('hi\n'), ')', ')', ')');
const sha = (algo: string, data: Uint8Array | string) => new Uint8Array(createHash(algo).update(data).digest());

async function* once(bytes: Uint8Array) {
  yield bytes;
}

/** Ingests `narBytes` and describes it as `name`, at the path `ca` gives it unless `storePath` says otherwise. */
async function pathInfoFor(narBytes: Uint8Array, name: string, ca: ContentAddress | undefined, extra: Partial<PathInfo> = {}) {
  const castore: Castore = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
  const { node, narHash, narSize } = await ingestNar(once(narBytes), castore);
  const placeholder = StorePath.fromParts(new Uint8Array(20), name);
  const storePath = (ca && contentAddressedPath(name, ca, extra.references ?? [], placeholder)) || placeholder;
  const info: PathInfo = { storePath, node, narHash, narSize, references: [], signatures: [], ...(ca ? { ca } : {}), ...extra };
  return { info, castore };
}

async function refusal(info: PathInfo, castore: Castore, policy = POLICY): Promise<string | null> {
  try {
    await checkUploadPolicy(info, policy, castore, new NarCalculator(castore));
    return null;
  } catch (err) {
    if (!NarBridgeError.is(err) || err.code !== 'NB_ERR_FORBIDDEN') throw err;
    return err.message;
  }
}

const narCa = (narBytes: Uint8Array, algo = 'sha256') => parseContentAddress(`fixed:r:${algo}:${Buffer.from(sha(algo, narBytes)).toString('hex')}`);
const fileCa = (method: 'fixed:' | 'text:', contents: string, algo = 'sha256') =>
  parseContentAddress(`${method}${algo}:${Buffer.from(sha(algo, contents)).toString('hex')}`);

describe('checkUploadPolicy', () => {
  it('accepts anything when signatures are not required', async () => {
    const { info, castore } = await pathInfoFor(fileNar('x'), 'x', undefined);
    expect(await refusal(info, castore, { trustedKeys: [], requireSigned: false })).toBeNull();
  });

  it('accepts an input-addressed path signed by a trusted key, refuses unsigned and untrusted ones', async () => {
    const { info, castore } = await pathInfoFor(fileNar('x'), 'x', undefined, { references: [OTHER] });
    const fp = fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
    expect(await refusal({ ...info, signatures: [stranger.sign(fp), trusted.sign(fp)] }, castore)).toBeNull();
    expect(await refusal(info, castore)).toMatch(/is not signed by a trusted key \(trusted-1\), and it has no content address/);
    expect(await refusal({ ...info, signatures: [stranger.sign(fp)] }, castore)).toMatch(/not signed by a trusted key/);
  });

  it('refuses a trusted signature over other metadata (NarSize, references)', async () => {
    const { info, castore } = await pathInfoFor(fileNar('x'), 'x', undefined);
    const wrongSize = trusted.sign(fingerprintPath(info.storePath, info.narHash, info.narSize + 1, info.references));
    const wrongRefs = trusted.sign(fingerprintPath(info.storePath, info.narHash, info.narSize, [OTHER]));
    expect(await refusal({ ...info, signatures: [wrongSize, wrongRefs] }, castore)).toMatch(/not signed/);
  });

  it.each([
    ['fixed:r:sha256', dirNar(), (n: Uint8Array) => narCa(n)],
    ['fixed:r:sha1', dirNar(), (n: Uint8Array) => narCa(n, 'sha1')],
    ['fixed:sha256 (flat)', fileNar('hello'), () => fileCa('fixed:', 'hello')],
    ['fixed:sha512 (flat)', fileNar('hello'), () => fileCa('fixed:', 'hello', 'sha512')],
    ['text:sha256', fileNar('I am text\n'), () => fileCa('text:', 'I am text\n')],
  ])('exempts an unsigned %s path whose CA matches its content and store path', async (_label, narBytes, ca) => {
    const { info, castore } = await pathInfoFor(narBytes, 'thing', ca(narBytes));
    expect(await refusal(info, castore)).toBeNull();
  });

  it('exempts a text path with references when the path accounts for them, and refuses it at another path', async () => {
    const ca = fileCa('text:', 'drv');
    const { info, castore } = await pathInfoFor(fileNar('drv'), 'a.drv', ca, { references: [OTHER] });
    expect(await refusal(info, castore)).toBeNull();
    expect(await refusal({ ...info, references: [] }, castore)).toMatch(/store path does not match its content address/);
  });

  it.each([
    ['content differs from a NAR CA', fileNar('hello'), () => narCa(fileNar('other')), /store path does not match|content does not match/],
    ['flat file is executable', fileNar('hello', true), () => fileCa('fixed:', 'hello'), /single non-executable file/],
    ['flat CA of a directory', dirNar(), () => fileCa('fixed:', 'hi\n'), /single non-executable file/],
    ['flat content differs', fileNar('hello'), () => fileCa('fixed:', 'hellO'), /content does not match/],
  ])('refuses an unsigned CA path when the %s', async (_label, narBytes, ca, why) => {
    const claimed = ca();
    const { info, castore } = await pathInfoFor(narBytes, 'thing', claimed);
    expect(await refusal(info, castore)).toMatch(why);
  });

  it('refuses a matching CA claimed for another store path, and a flat CA with references', async () => {
    const ca = fileCa('fixed:', 'hello');
    const { info, castore } = await pathInfoFor(fileNar('hello'), 'thing', ca);
    expect(await refusal({ ...info, storePath: OTHER }, castore)).toMatch(/store path does not match/);
    expect(await refusal({ ...info, references: [OTHER] }, castore)).toMatch(/cannot have these references/);
  });

  it('refuses a NAR CA whose hash is not the NarHash', async () => {
    const narBytes = dirNar();
    const { info, castore } = await pathInfoFor(narBytes, 'thing', narCa(narBytes));
    const lying = { ...info, narHash: NixHash.fromDigest('sha256', sha('sha256', 'x')) };
    expect(await refusal(lying, castore)).toMatch(/content does not match/);
  });
});
