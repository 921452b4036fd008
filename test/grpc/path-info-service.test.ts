// PathInfoService conformance over gRPC, and golden NARs ingested and rendered back through the gRPC clients.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { status as Status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SymlinkTarget, type Castore } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { decodeNodeText, ingestNar, planNar, type PathInfo } from '../../src/store/index.js';
import { GOLDEN_NARS, TESTDATA } from '../store/golden.js';
import { startLoopback, type Loopback } from './loopback.js';
import { INFO } from './path-info-fixture.js';
import { plainPathInfo as plain } from '../store/plain-path-info.js';

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

let loopback: Loopback;
afterEach(async () => {
  expect(loopback.errors).toEqual([]);
  await loopback.close();
});

/**
 * Ingests complicated.nar (INFO's contents) into the server's store through the gRPC castore clients; returns INFO
 * with that NAR's true NarHash and NarSize, as the server checks them.
 */
async function storeComplicated(): Promise<PathInfo> {
  const remote: Castore = { blobs: loopback.blobs, directories: loopback.directories };
  const nar = await readFile(join(TESTDATA, 'complicated.nar'));
  const { node, narHash, narSize } = await ingestNar(Readable.from([nar]), remote);
  expect(node).toEqual(INFO.node);
  return { ...INFO, narHash, narSize };
}

describe.each(['tcp', 'unix'] as const)('PathInfoService: grpc over %s', (transport) => {
  it('returns null for a missing path', async () => {
    loopback = await startLoopback(transport);
    expect(await loopback.pathInfos.get(INFO.storePath.digest)).toBeNull();
  });

  it('stores every field once the graph is there, and lists what it holds', async () => {
    loopback = await startLoopback(transport);
    const info = await storeComplicated();
    await loopback.pathInfos.put(info);
    expect(plain(await loopback.pathInfos.get(INFO.storePath.digest))).toEqual(plain(info));
    const dep = StorePath.parseBasename('x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt');
    const symlink = { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/x') } as const;
    const facts = await loopback.pathInfos.calculateNar(symlink);
    const symlinkInfo: PathInfo = {
      ...INFO,
      storePath: dep,
      node: symlink,
      references: [],
      signatures: [],
      narHash: NixHash.fromDigest('sha256', facts.narSha256),
      narSize: facts.narSize,
    };
    const { deriver: _d, ca: _c, ...bare } = symlinkInfo;
    await loopback.pathInfos.put(bare); // a symlink refers to no object
    const listed = (await collect(loopback.pathInfos.list())).map((info) => info.storePath.basename);
    expect(listed.sort()).toEqual([INFO.storePath.basename, dep.basename].sort());
    expect(plain(await loopback.pathInfos.get(dep.digest))).toEqual(plain(bare));
  });

  it('keeps a stored path: the same contents add signatures, other contents are refused', async () => {
    loopback = await startLoopback(transport);
    const info = await storeComplicated();
    await loopback.pathInfos.put({ ...info, signatures: [] });
    await loopback.pathInfos.put(info);
    await loopback.pathInfos.put(info);
    const other = { ...info, narSize: info.narSize + 8, signatures: [] };
    const err = await loopback.pathInfos.put(other).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ cause: { code: Status.PERMISSION_DENIED, details: expect.stringMatching(/already stored .*immutable/) } });
    const held = await loopback.pathInfos.get(INFO.storePath.digest);
    expect(held?.narSize).toBe(info.narSize);
    expect(held?.signatures.map(String)).toEqual(info.signatures.map(String));
  });

  it('refuses a PathInfo whose root is not stored, as NB_ERR_MISSING_OBJECT', async () => {
    loopback = await startLoopback(transport);
    const err = await loopback.pathInfos.put(INFO).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NB_ERR_MISSING_OBJECT' });
  });
});

describe('golden NARs through the gRPC clients', () => {
  it('ingest to the listed root, render back byte for byte, and CalculateNAR agrees', async () => {
    loopback = await startLoopback('tcp');
    const remote: Castore = { blobs: loopback.blobs, directories: loopback.directories };
    for (const golden of GOLDEN_NARS) {
      const nar = await readFile(join(TESTDATA, golden.file));
      const { node, narHash, narSize } = await ingestNar(Readable.from([nar]), remote);
      expect(node, golden.file).toEqual(decodeNodeText(golden.rootB64url));
      expect(narHash.equals(NixHash.fromDigest('sha256', Buffer.from(golden.sha256, 'hex')))).toBe(true);
      expect(narSize).toBe(golden.size);

      const plan = await planNar(node, remote);
      expect(plan.narSize).toBe(golden.size);
      expect(Buffer.concat(await collect(plan.stream())).equals(nar), golden.file).toBe(true);

      const facts = await loopback.pathInfos.calculateNar(node);
      expect(facts.narSize).toBe(golden.size);
      expect(Buffer.from(facts.narSha256).toString('hex')).toBe(golden.sha256);
      expect(Buffer.from(facts.narSha256).equals(createHash('sha256').update(nar).digest())).toBe(true);
    }
  });
});
