import { describe, expect, it } from 'vitest';
import { formatNarInfo, parseNarInfo } from '../../src/nix/index.js';
import { HELLO_NARINFO, Y_NARINFO } from './doc-narinfos.js';
import { expectNarBridgeError } from './expect-error.js';

const NAR_HASH_B32 = '0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g';
const DEPTREE = 'rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree';
const DEP = 'x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt';

/** Y_NARINFO with one line replaced (or dropped, when `replacement` is null). */
function withLine(key: string, replacement: string | null): string {
  const lines = Y_NARINFO.split('\n');
  const index = lines.findIndex((line) => line.startsWith(`${key}:`));
  expect(index, `Y_NARINFO has a ${key} line`).toBeGreaterThanOrEqual(0);
  if (replacement === null) lines.splice(index, 1);
  else lines[index] = replacement;
  return lines.join('\n');
}

describe('parseNarInfo and formatNarInfo', () => {
  it('parse every field of an input-addressed narinfo', () => {
    const info = parseNarInfo(Y_NARINFO);
    expect(info.storePath.toAbsolute()).toBe('/nix/store/2r4c0iwl695hgsdxkablgafiz6pkkam6-y');
    expect(info.url).toBe('nar/1symq9x112xhijfxkd3gv4w1sc4i7sgynad2ggws6w7c0xz8av0z.nar.xz');
    expect(info.compression).toBe('xz');
    expect(info.fileHash?.toString()).toBe('sha256:1symq9x112xhijfxkd3gv4w1sc4i7sgynad2ggws6w7c0xz8av0z');
    expect(info.fileSize).toBe(276);
    expect(info.narHash.toString()).toBe(`sha256:${NAR_HASH_B32}`);
    expect(info.narSize).toBe(576);
    expect(info.references.map((ref) => ref.basename)).toEqual([DEPTREE, DEP]);
    expect(info.deriver?.basename).toBe('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv');
    expect(info.sigs.map(String)).toEqual(['test-1:3sPEu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==']);
    expect(info.ca).toBeUndefined();
    expect(info.system).toBeUndefined();
  });

  it.each([
    ['an input-addressed path', Y_NARINFO],
    ['a content-addressed path without references', HELLO_NARINFO],
  ])('format what Nix wrote for %s byte for byte', (_label, text) => {
    expect(formatNarInfo(parseNarInfo(text))).toBe(text);
  });

  it('parse an empty References list and write it back with its trailing space', () => {
    const info = parseNarInfo(HELLO_NARINFO);
    expect(info.references).toEqual([]);
    expect(info.ca?.method).toBe('nar');
    expect(formatNarInfo(info)).toContain('\nReferences: \n');
  });

  it('keep the written order of References but format them sorted, as Nix does', () => {
    const info = parseNarInfo(withLine('References', `References: ${DEP} ${DEPTREE}`));
    expect(info.references.map((ref) => ref.basename)).toEqual([DEP, DEPTREE]);
    expect(formatNarInfo(info)).toBe(Y_NARINFO);
  });

  it('write Sig lines sorted, as Nix does', () => {
    const sig1 = `test-1:${'A'.repeat(86)}==`;
    const sig2 = `test-2:${'B'.repeat(85)}A==`;
    const info = parseNarInfo(withLine('Sig', `Sig: ${sig2}\nSig: ${sig1}`));
    expect(info.sigs.map(String)).toEqual([sig2, sig1]);
    expect(formatNarInfo(info)).toContain(`\nSig: ${sig1}\nSig: ${sig2}\n`);
  });

  it('treat a missing References line as no references', () => {
    expect(parseNarInfo(withLine('References', null)).references).toEqual([]);
  });

  it('treat "Deriver: unknown-deriver" as no deriver', () => {
    const info = parseNarInfo(withLine('Deriver', 'Deriver: unknown-deriver'));
    expect(info.deriver).toBeUndefined();
    expect(formatNarInfo(info)).toBe(withLine('Deriver', null));
  });

  it('let the last of a repeated key win', () => {
    const text = withLine('URL', 'URL: nar/first.nar.xz\nURL: nar/second.nar.xz');
    expect(parseNarInfo(text).url).toBe('nar/second.nar.xz');
  });

  it('ignore unknown keys, and accept fields in any order', () => {
    const reversed = `Foo: bar\n${Y_NARINFO.trimEnd().split('\n').reverse().join('\n')}\n`;
    expect(formatNarInfo(parseNarInfo(reversed))).toBe(Y_NARINFO);
  });

  // The nix-base32 spelling comes from `nix-hash --type sha256 --to-base32`.
  it('accept NarHash in base16 and SRI, and write nix-base32', () => {
    for (const spelling of ['sha256:c6e155b3456e30b7612263ec095070811caf8abfd59faa72ab82a592efdeb253', 'sha256-xuFVs0VuMLdhImPsCVBwgRyvir/Vn6pyq4Klku/eslM=']) {
      const info = parseNarInfo(withLine('NarHash', `NarHash: ${spelling}`));
      expect(formatNarInfo(info)).toContain('\nNarHash: sha256:0lxjvvpr59c2mdram7ympy5ay741f180kv3349hvfc3f8nrmbqf6\n');
    }
  });

  it('keep optional fields optional', () => {
    let text = Y_NARINFO;
    for (const key of ['Compression', 'FileHash', 'FileSize', 'Deriver', 'Sig']) {
      text = text.replace(new RegExp(`^${key}: .*\n`, 'm'), '');
    }
    const info = parseNarInfo(text);
    expect([info.compression, info.fileHash, info.fileSize, info.deriver]).toEqual([undefined, undefined, undefined, undefined]);
    expect(info.sigs).toEqual([]);
    expect(formatNarInfo(info)).toBe(text);
  });

  it('refuse to write a field value that would break its line', () => {
    const info = parseNarInfo(Y_NARINFO);
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => formatNarInfo({ ...info, url: 'nar/x\nSig: evil' }));
  });
});

describe('parseNarInfo rejects', () => {
  it.each([
    ['CRLF line endings', Y_NARINFO.replaceAll('\n', '\r\n'), 'carriage return'],
    ['a missing StorePath', withLine('StorePath', null), 'missing StorePath'],
    ['a missing URL', withLine('URL', null), 'missing URL'],
    ['an empty URL', withLine('URL', 'URL: '), 'URL'],
    ['a missing NarHash', withLine('NarHash', null), 'missing NarHash'],
    ['a missing NarSize', withLine('NarSize', null), 'missing NarSize'],
    ['NarSize 0', withLine('NarSize', 'NarSize: 0'), 'NarSize'],
    ['NarSize without a space', withLine('NarSize', 'NarSize:576'), 'one space'],
    ['NarSize with two spaces', withLine('NarSize', 'NarSize:  576'), 'one space'],
    ['a space before the colon', withLine('NarSize', 'NarSize : 576'), 'missing NarSize'],
    ['a lower-case key', withLine('NarSize', 'narsize: 576'), 'missing NarSize'],
    ['NarSize with a plus sign', withLine('NarSize', 'NarSize: +576'), 'NarSize'],
    ['NarSize with a leading zero', withLine('NarSize', 'NarSize: 0576'), 'NarSize'],
    ['a negative NarSize', withLine('NarSize', 'NarSize: -576'), 'NarSize'],
    ['NarSize beyond 2^53', withLine('NarSize', 'NarSize: 9007199254740993'), 'NarSize'],
    ['a non-decimal FileSize', withLine('FileSize', 'FileSize: 0x10'), 'FileSize'],
    ['no final newline', Y_NARINFO.slice(0, -1), 'newline'],
    ['a trailing blank line', `${Y_NARINFO}\n`, 'blank line'],
    ['a blank line in the middle', withLine('URL', '\nURL: nar/x.nar'), 'blank line'],
    ['a line without a colon', withLine('FileSize', 'FileSize 276'), 'Key: value'],
    ['References as full paths', withLine('References', `References: /nix/store/${DEPTREE}`), 'References'],
    ['References without the trailing space', withLine('References', 'References:'), 'one space'],
    ['a duplicate reference', withLine('References', `References: ${DEP} ${DEP}`), 'duplicate reference'],
    ['two spaces between references', withLine('References', `References: ${DEPTREE}  ${DEP}`), 'References'],
    ['an empty Deriver', withLine('Deriver', 'Deriver: '), 'Deriver'],
    ['Deriver as a full path', withLine('Deriver', `Deriver: /nix/store/${DEP}`), 'Deriver'],
    ['a Sig that is not base64', withLine('Sig', 'Sig: test-1:not base64!'), 'Sig'],
    ['a Sig without key name', withLine('Sig', `Sig: ${'A'.repeat(86)}==`), 'Sig'],
    ['a Sig of the wrong length', withLine('Sig', `Sig: test-1:${'A'.repeat(43)}=`), '64 bytes'],
    ['a NarHash without algorithm', withLine('NarHash', `NarHash: ${NAR_HASH_B32}`), 'NarHash'],
    ['a bad NarHash digit', withLine('NarHash', `NarHash: sha256:${NAR_HASH_B32.slice(1)}e`), 'NarHash'],
    ['a bogus CA', withLine('Sig', 'CA: bogus:xyz'), 'CA'],
    ['a StorePath in another store dir', withLine('StorePath', 'StorePath: /foo/store/2r4c0iwl695hgsdxkablgafiz6pkkam6-y'), 'StorePath'],
    ['a StorePath basename', withLine('StorePath', 'StorePath: 2r4c0iwl695hgsdxkablgafiz6pkkam6-y'), 'StorePath'],
    ['an empty text', '', 'newline'],
  ])('%s', (_label, text, reason) => {
    const message = expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => parseNarInfo(text));
    expect(message).toContain(reason);
    expect(message).not.toMatch(/[\r\n]/);
  });
});
