// PathInfo ⇄ tvix.store.v1.PathInfo: every root node kind round-trips, bad roots and sizes are refused.
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { B3Digest, SymlinkTarget, type Node } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { tvix } from '../../src/proto/index.js';
import { decodePathInfo, encodePathInfo, pathInfoFromProto, pathInfoToProto, type PathInfo } from '../../src/store/index.js';
import { INFO } from '../grpc/path-info-fixture.js';

const DIGEST = B3Digest.fromHex('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c');
const ROOTS: Node[] = [
  INFO.node,
  { kind: 'file', digest: DIGEST, size: 12, executable: true },
  { kind: 'file', digest: DIGEST, size: 0, executable: false },
  { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/x') },
];

const withNarSize = (narSize: number | Long) => {
  const proto = pathInfoToProto(INFO);
  return tvix.store.v1.PathInfo.encode({ ...proto, narinfo: { ...proto.narinfo, narSize } }).finish();
};

describe('PathInfo wire', () => {
  it.each(ROOTS)('round-trips a PathInfo whose root is a $kind, through the message and through bytes', (node) => {
    const info: PathInfo = { ...INFO, node };
    expect(pathInfoFromProto(pathInfoToProto(info))).toEqual(info);
    expect(decodePathInfo(encodePathInfo(info))).toEqual(info);
  });

  it('names the root node with the store path basename', () => {
    expect(Buffer.from(pathInfoToProto(INFO).node?.directory?.name ?? []).toString()).toBe(INFO.storePath.basename);
  });

  it('refuses a PathInfo whose root node sets no member', () => {
    expect(() => pathInfoFromProto({ ...pathInfoToProto(INFO), node: {} })).toThrow('exactly one');
  });

  it('refuses a root node whose name is not a store path basename', () => {
    const proto = pathInfoToProto(INFO);
    expect(() => pathInfoFromProto({ ...proto, node: { file: { name: Buffer.from('no-hash'), digest: DIGEST.bytes } } })).toThrow(NarBridgeError);
  });

  it('reads a NAR size of 2^53-1 exactly and refuses 2^53, which a number would round', () => {
    expect(decodePathInfo(withNarSize(Long.fromString('9007199254740991', true))).narSize).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => decodePathInfo(withNarSize(Long.fromString('9007199254740993', true)))).toThrow('NAR size 9007199254740993 is above 2^53-1');
  });
});
