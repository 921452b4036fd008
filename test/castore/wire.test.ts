// Canonical encoding pinned by tvix's golden vectors (test/fixtures/tvix/README.md), and hostile decoding.
import { describe, expect, it } from 'vitest';
import {
  B3Digest,
  Directory,
  DirectoryBuilder,
  PathComponent,
  SymlinkTarget,
  blake3,
  decodeDirectory,
  decodeRootNode,
  directoryFromProto,
  directoryToProto,
  encodeDirectory,
  encodeRootNode,
  nodeFromProto,
  nodeToProto,
  type Node,
} from '../../src/castore/index.js';
import { NarBridgeError, type ErrorCode } from '../../src/errors.js';
import { tvix } from '../../src/proto/index.js';

const pb = tvix.castore.v1;
const name = (s: string) => PathComponent.fromString(s);
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const hex = (h: string) => B3Digest.fromHex(h);
const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const EMPTY_FILE = blake3(new Uint8Array());
const ONE_BYTE = hex('48fc721fbbc172e0925fa27af1671de225ba927134802998b10a1568a188652b');

async function expectCode(fn: () => unknown, code: ErrorCode): Promise<void> {
  const err: unknown = await Promise.resolve()
    .then(fn)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err, `expected ${code}`).toBeInstanceOf(NarBridgeError);
  expect(NarBridgeError.is(err) && err.code).toBe(code);
}

/** complicated.nar, built by hand: `.keep` (empty), `aa` → /nix/store/somewhereelse, `keep/.keep` (empty). */
function complicatedTree(): { root: Directory; keep: Directory } {
  const keep = new DirectoryBuilder().add(name('.keep'), { kind: 'file', digest: EMPTY_FILE, size: 0, executable: false }).build();
  const root = new DirectoryBuilder()
    .add(name('.keep'), { kind: 'file', digest: EMPTY_FILE, size: 0, executable: false })
    .add(name('aa'), { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/somewhereelse') })
    .add(name('keep'), { kind: 'directory', digest: keep.digest(), size: keep.size })
    .build();
  return { root, keep };
}

// The `root b64url` column of test/fixtures/tvix/README.md, with the node each must encode.
const GOLDEN_ROOTS: [string, Node, string][] = [
  [
    'emptydirectory.nar',
    { kind: 'directory', digest: hex('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'), size: 0 },
    'CiISIK8TSbn1-aGmoEBN6jbcyUmbyyXJrcESt8yak8rkHzJi',
  ],
  ['onebyteregular.nar', { kind: 'file', digest: ONE_BYTE, size: 1, executable: false }, 'EiQSIEj8ch-7wXLgkl-ievFnHeIlupJxNIApmLEKFWihiGUrGAE'],
  ['onebyteexecutable.nar', { kind: 'file', digest: ONE_BYTE, size: 1, executable: true }, 'EiYSIEj8ch-7wXLgkl-ievFnHeIlupJxNIApmLEKFWihiGUrGAEgAQ'],
  ['symlink.nar', { kind: 'symlink', target: SymlinkTarget.fromString('/nix/store/somewhereelse') }, 'GhoSGC9uaXgvc3RvcmUvc29tZXdoZXJlZWxzZQ'],
  [
    'helloworld.nar',
    { kind: 'file', digest: hex('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c'), size: 12, executable: false },
    'EiQSIFyngVrctITpoTbBHv5pwdUwF21Um10Y0DjrUoC0s0cMGAw',
  ],
  [
    'complicated.nar',
    { kind: 'directory', digest: hex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a'), size: 4 },
    'CiQSID-VGhWv1Yb7MSHvTRPVgugRzg5afyHASX_YdJDp4jVaGAQ',
  ],
  [
    'popdirectories.nar',
    { kind: 'directory', digest: hex('c4be42fe5a2cb9d366e2f076d96c60b0a6cdf0c3b02c7b650bf6ec52c71a8932'), size: 3 },
    'CiQSIMS-Qv5aLLnTZuLwdtlsYLCmzfDDsCx7ZQv27FLHGokyGAM',
  ],
  [
    'net-tools',
    { kind: 'directory', digest: hex('189a4a0d0f964c950afabb8b83c7f8a5e3511c3c657368411a6d0ae8efd318db'), size: 34 },
    'CiQSIBiaSg0PlkyVCvq7i4PH-KXjURw8ZXNoQRptCujv0xjbGCI',
  ],
];

/** A directory using every node kind and every optional field. */
function mixedDirectory(): Directory {
  return new DirectoryBuilder()
    .add(name('bin'), { kind: 'directory', digest: blake3(utf8('bin')), size: 300 })
    .add(name('empty'), { kind: 'directory', digest: Directory.EMPTY.digest(), size: 0 })
    .add(name('exe'), { kind: 'file', digest: ONE_BYTE, size: 2 ** 40, executable: true })
    .add(name('lib'), { kind: 'symlink', target: SymlinkTarget.fromString('bin') })
    .add(name('zero'), { kind: 'file', digest: EMPTY_FILE, size: 0, executable: false })
    .build();
}

describe('root node encoding', () => {
  it.each(GOLDEN_ROOTS)('%s encodes to the golden b64url', (_, node, b64) => {
    expect(Buffer.from(encodeRootNode(new Uint8Array(), node)).toString('base64url')).toBe(b64);
  });

  it.each(GOLDEN_ROOTS)('%s decodes back from the golden b64url', (_, node, b64) => {
    const decoded = decodeRootNode(Buffer.from(b64, 'base64url'));
    expect(decoded.name).toHaveLength(0);
    expect(hexOf(encodeRootNode(decoded.name, decoded.node))).toBe(hexOf(encodeRootNode(new Uint8Array(), node)));
  });

  it('keeps a root name', () => {
    const node: Node = { kind: 'file', digest: ONE_BYTE, size: 1, executable: false };
    const decoded = decodeRootNode(encodeRootNode(utf8('abc-hello'), node));
    expect(Buffer.from(decoded.name).toString()).toBe('abc-hello');
  });

  it.each([
    ['empty message', new Uint8Array()],
    ['a malformed member', new Uint8Array([0x0a, 0x01, 0x61])],
    ['truncated', Buffer.from('CiISIK8TSbn1-aGmoEBN6jbcyUmbyyXJrcESt8yak8rkHzJi', 'base64url').subarray(0, 10)],
  ])('rejects a root node that is %s', (_, bytes) => expectCode(() => decodeRootNode(bytes), 'NB_ERR_INVALID_NODE'));
});

describe('Directory encoding', () => {
  it('hashes the empty Directory to blake3 of zero bytes', () => {
    expect(encodeDirectory(Directory.EMPTY)).toHaveLength(0);
    expect(Directory.EMPTY.digest().toHex()).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  });

  it('reproduces the complicated.nar root digest and size', () => {
    const { root, keep } = complicatedTree();
    expect(keep.size).toBe(1);
    expect(root.size).toBe(4);
    expect(root.digest().toHex()).toBe('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a');
  });

  it('round-trips every node kind through encode and decode', () => {
    const d = mixedDirectory();
    const back = decodeDirectory(encodeDirectory(d));
    expect(back.digest().equals(d.digest())).toBe(true);
    expect(back.size).toBe(d.size);
    expect(back.entries.map((e) => [e.name.toString(), e.node.kind])).toEqual(d.entries.map((e) => [e.name.toString(), e.node.kind]));
    expect(hexOf(encodeDirectory(back))).toBe(hexOf(encodeDirectory(d)));
  });

  it('agrees with the protobufjs generated decoder and encoder', () => {
    const d = mixedDirectory();
    const bytes = encodeDirectory(d);
    const msg = pb.Directory.decode(bytes);
    expect(msg.directories.map((n) => Buffer.from(n.name ?? []).toString())).toEqual(['bin', 'empty']);
    expect(msg.files.map((n) => [Buffer.from(n.name ?? []).toString(), Number(n.size), n.executable])).toEqual([
      ['exe', 2 ** 40, true],
      ['zero', 0, false],
    ]);
    expect(msg.symlinks.map((n) => Buffer.from(n.target ?? []).toString())).toEqual(['bin']);
    expect(directoryFromProto(msg).digest().equals(d.digest())).toBe(true);
    // With defaults left unset, protobufjs writes the same canonical bytes.
    expect(hexOf(pb.Directory.encode(directoryToProto(d)).finish())).toBe(hexOf(bytes));
  });

  it('converts root nodes to and from protobufjs messages', () => {
    for (const [, node] of GOLDEN_ROOTS) {
      const bytes = pb.Node.encode(nodeToProto(utf8('n'), node)).finish();
      expect(hexOf(bytes)).toBe(hexOf(encodeRootNode(utf8('n'), node)));
      const back = nodeFromProto(pb.Node.decode(bytes));
      expect(hexOf(encodeRootNode(back.name, back.node))).toBe(hexOf(bytes));
    }
  });
});

describe('decodeDirectory on hostile input', () => {
  const digest = ONE_BYTE.bytes;
  const fileNode = (n: string | Uint8Array, extra: Partial<tvix.castore.v1.FileNode.$Properties> = {}) => ({
    name: typeof n === 'string' ? utf8(n) : n,
    digest,
    size: 1,
    ...extra,
  });
  const encode = (p: tvix.castore.v1.Directory.$Properties) => pb.Directory.encode(p).finish();

  it('rejects an unsorted list', () => expectCode(() => decodeDirectory(encode({ files: [fileNode('b'), fileNode('a')] })), 'NB_ERR_INVALID_NAME'));

  it('rejects a duplicate within a list', () => expectCode(() => decodeDirectory(encode({ files: [fileNode('a'), fileNode('a')] })), 'NB_ERR_INVALID_NAME'));

  it('rejects a name used in two lists', () =>
    expectCode(
      () =>
        decodeDirectory(
          encode({
            files: [fileNode('a')],
            symlinks: [{ name: utf8('a'), target: utf8('t') }],
          }),
        ),
      'NB_ERR_INVALID_NAME',
    ));

  it.each([
    ['dot', '.'],
    ['dot-dot', '..'],
    ['empty', ''],
    ['slash', 'a/b'],
    ['NUL', 'a\0'],
  ])('rejects a %s name', (_, n) => expectCode(() => decodeDirectory(encode({ files: [fileNode(n)] })), 'NB_ERR_INVALID_NAME'));

  it.each([0, 20, 33])('rejects a %i-byte digest', (n) =>
    expectCode(() => decodeDirectory(encode({ directories: [{ name: utf8('d'), digest: new Uint8Array(n), size: 1 }] })), 'NB_ERR_INVALID_DIGEST'),
  );

  it.each([
    ['empty', ''],
    ['NUL', 'a\0b'],
  ])('rejects a %s symlink target', (_, t) =>
    expectCode(() => decodeDirectory(encode({ symlinks: [{ name: utf8('l'), target: utf8(t) }] })), 'NB_ERR_INVALID_NODE'),
  );

  /** A Directory holding one FileNode `f` whose size field is the given varint bytes. */
  const withSizeVarint = (varint: number[]) => {
    const body = Buffer.concat([Buffer.from([0x0a, 0x01, 0x66, 0x12, 0x20]), digest, Buffer.from([0x18, ...varint])]);
    return Buffer.concat([Buffer.from([0x12, body.length]), body]);
  };

  it('accepts a size of 2^53 - 1', () => {
    const entry = decodeDirectory(withSizeVarint([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])).entries[0];
    expect(entry?.node.kind === 'file' && entry.node.size).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('rejects a size of 2^53, which a number cannot hold exactly', () =>
    expectCode(() => decodeDirectory(withSizeVarint([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), 'NB_ERR_INVALID_NODE'));

  it('rejects truncated bytes', () => {
    const bytes = encodeDirectory(mixedDirectory());
    for (const cut of [1, 5, 40, bytes.length - 1]) expect(() => decodeDirectory(bytes.subarray(0, cut))).toThrow(NarBridgeError);
  });
});
