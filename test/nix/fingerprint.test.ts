import { describe, expect, it } from 'vitest';
import { fingerprintPath, NixHash, parseNarInfo, StorePath } from '../../src/nix/index.js';
import { HELLO_NARINFO, Y_NARINFO } from './doc-narinfos.js';
import { expectNarBridgeError } from './expect-error.js';

// Verified against Nix 2.8 (shared/docs/nix-http-protocol.md §6).
const Y_FINGERPRINT =
  '1;/nix/store/2r4c0iwl695hgsdxkablgafiz6pkkam6-y;sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g;576;/nix/store/rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree,/nix/store/x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt';
const HELLO_FINGERPRINT = '1;/nix/store/z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt;sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil;128;';

describe('fingerprintPath', () => {
  it.each([
    ['y, with references', Y_NARINFO, Y_FINGERPRINT],
    ['hello, without references (trailing ";")', HELLO_NARINFO, HELLO_FINGERPRINT],
  ])('produces the documented fingerprint of %s', (_label, text, expected) => {
    const info = parseNarInfo(text);
    expect(fingerprintPath(info.storePath, info.narHash, info.narSize, info.references)).toBe(expected);
  });

  it('sorts references and normalises the NarHash spelling', () => {
    const info = parseNarInfo(Y_NARINFO);
    const hexHash = NixHash.parse(`sha256:${info.narHash.toHex()}`);
    const reversed = info.references.slice().reverse();
    expect(fingerprintPath(info.storePath, hexHash, info.narSize, reversed)).toBe(Y_FINGERPRINT);
  });

  it('writes paths under the given store directory', () => {
    const info = parseNarInfo(HELLO_NARINFO);
    expect(fingerprintPath(info.storePath, info.narHash, info.narSize, [], '/gnu/store')).toBe(HELLO_FINGERPRINT.replace('/nix/store/', '/gnu/store/'));
  });

  it('refuses a NarHash that is not sha256, like Nix', () => {
    const path = StorePath.parseBasename('z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt');
    const sha512 = NixHash.fromDigest('sha512', new Uint8Array(64));
    expectNarBridgeError('NB_ERR_INVALID_DIGEST', () => fingerprintPath(path, sha512, 128, []));
  });
});
