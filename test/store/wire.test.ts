// PathInfo ⇄ tvix.store.v1.PathInfo: sizes a number cannot hold exactly are refused.
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { tvix } from '../../src/proto/index.js';
import { decodePathInfo, pathInfoToProto } from '../../src/store/index.js';
import { INFO } from '../grpc/path-info-fixture.js';

const withNarSize = (narSize: number | Long) => {
  const proto = pathInfoToProto(INFO);
  return tvix.store.v1.PathInfo.encode({ ...proto, narinfo: { ...proto.narinfo, narSize } }).finish();
};

describe('PathInfo wire', () => {
  it('reads a NAR size of 2^53-1 exactly and refuses 2^53, which a number would round', () => {
    expect(decodePathInfo(withNarSize(Long.fromString('9007199254740991', true))).narSize).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => decodePathInfo(withNarSize(Long.fromString('9007199254740993', true)))).toThrow('NAR size 9007199254740993 is above 2^53-1');
  });
});
