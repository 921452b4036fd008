// Byte vectors pinning the wire format to tvix's field numbers and types, written out field by field here.
import { describe, expect, it } from 'vitest';
import {
  B3Digest,
  DirectoryBuilder,
  PathComponent,
  SymlinkTarget,
  decodeDirectory,
  decodeRootNode,
  encodeDirectory,
  encodeRootNode,
} from '../../src/castore/index.js';
import { tvix } from '../../src/proto/index.js';
import { decodeNodeText, decodePathInfo, encodeNodeText, encodePathInfo } from '../../src/store/index.js';
import { GOLDEN_NARS } from '../store/golden.js';
import { INFO } from './path-info-fixture.js';

// Protobuf tags: (field number << 3) | wire type, wire type 0 = varint, 2 = length-delimited.
const LEN = (field: number) => (field << 3) | 2;
const VARINT = (field: number) => field << 3;

function varint(n: number): number[] {
  const out: number[] = [];
  for (let rest = n; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) return [...out, rest];
    out.push((rest % 128) | 128);
  }
}

/** One length-delimited field. */
const bytesField = (field: number, bytes: Uint8Array | readonly number[]) => [LEN(field), ...varint(bytes.length), ...bytes];
const varintField = (field: number, n: number) => [VARINT(field), ...varint(n)];
const text = (s: string) => [...Buffer.from(s)];
const hex = (bytes: Uint8Array | readonly number[]) => Buffer.from(bytes).toString('hex');

const DIGEST_A = B3Digest.fromHex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a');
const DIGEST_B = B3Digest.fromHex('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c');

describe('wire vectors', () => {
  it.each(GOLDEN_NARS)('$file: the root node encodes to the tvix base64url', (golden) => {
    const node = decodeNodeText(golden.rootB64url);
    expect(encodeNodeText(node)).toBe(golden.rootB64url);
    const bytes = Buffer.from(golden.rootB64url, 'base64url');
    expect(hex(encodeRootNode(new Uint8Array(0), node))).toBe(hex(bytes));
    // The generated decoder reads the same bytes as the same oneof member (castore.proto: Node 1/2/3).
    const proto = tvix.castore.v1.Node.decode(bytes);
    expect((['directory', 'file', 'symlink'] as const).filter((kind) => proto[kind] != null)).toEqual([node.kind]);
  });

  it('a Directory with all three node kinds: directories = 1, files = 2, symlinks = 3', () => {
    const directory = new DirectoryBuilder()
      .add(PathComponent.fromString('a'), { kind: 'directory', digest: DIGEST_A, size: 4 })
      .add(PathComponent.fromString('b'), { kind: 'file', digest: DIGEST_B, size: 12, executable: true })
      .add(PathComponent.fromString('c'), { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/x') })
      .build();
    // DirectoryNode {name = 1, digest = 2, size = 3}; FileNode {name, digest, size, executable = 4};
    // SymlinkNode {name = 1, target = 2}.
    const expected = [
      ...bytesField(1, [...bytesField(1, text('a')), ...bytesField(2, DIGEST_A.bytes), ...varintField(3, 4)]),
      ...bytesField(2, [...bytesField(1, text('b')), ...bytesField(2, DIGEST_B.bytes), ...varintField(3, 12), ...varintField(4, 1)]),
      ...bytesField(3, [...bytesField(1, text('c')), ...bytesField(2, text('/nix/store/x'))]),
    ];
    expect(hex(encodeDirectory(directory))).toBe(hex(expected));
    expect(hex(encodeDirectory(decodeDirectory(Uint8Array.from(expected))))).toBe(hex(expected));
    // blake3 of exactly those bytes: the digest a tvix peer computes for this Directory.
    expect(directory.digest().toHex()).toBe('d2edc3811882d28de1416daff48dbd4234e89f88e22052f24738e9215aee5452');
  });

  it('a PathInfo with narinfo, signatures, deriver and CA', () => {
    const signature = INFO.signatures[0];
    if (!signature || !INFO.deriver || !INFO.ca || INFO.node.kind !== 'directory') throw new Error('fixture changed');
    // PathInfo {node = 1, references = 2, narinfo = 3}; NARInfo {nar_size = 1, nar_sha256 = 2, signatures = 3,
    // reference_names = 4, deriver = 5, ca = 6}; Signature {name = 1, data = 2}; StorePath {name = 1, digest = 2};
    // CA {type = 1 (NAR_SHA256 = 0, omitted as the default), digest = 2}.
    const expected = [
      ...bytesField(1, bytesField(1, [...bytesField(1, text(INFO.storePath.basename)), ...bytesField(2, INFO.node.digest.bytes), ...varintField(3, 4)])),
      ...INFO.references.flatMap((ref) => bytesField(2, ref.digest)),
      ...bytesField(3, [
        ...varintField(1, 840),
        ...bytesField(2, INFO.narHash.digest),
        ...bytesField(3, [...bytesField(1, text('test-1')), ...bytesField(2, signature.bytes)]),
        ...INFO.references.flatMap((ref) => bytesField(4, text(ref.basename))),
        ...bytesField(5, [...bytesField(1, text('y')), ...bytesField(2, INFO.deriver.digest)]),
        ...bytesField(6, bytesField(2, INFO.ca.hash.digest)),
      ]),
    ];
    expect(hex(encodePathInfo(INFO))).toBe(hex(expected));
    const back = decodePathInfo(Uint8Array.from(expected));
    expect(back.deriver?.basename).toBe('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv');
    expect(back.ca && `${back.ca.method}:${back.ca.hash.algo}`).toBe('nar:sha256');
    expect(back.signatures.map(String)).toEqual(INFO.signatures.map(String));
    expect(hex(encodeRootNode(new Uint8Array(0), back.node))).toBe(hex(encodeRootNode(new Uint8Array(0), INFO.node)));
    expect(decodeRootNode(encodeRootNode(Buffer.from(INFO.storePath.basename), INFO.node)).node).toEqual(INFO.node);
  });
});
