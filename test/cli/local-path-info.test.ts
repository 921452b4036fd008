// `nix path-info --json` in both shapes: an array of objects with `path` (Nix 2.8 … 2.18) and an object keyed by
// store path (Nix ≥ 2.19, where missing fields may be null). Fixtures written by hand after Nix's format.
import { describe, expect, it } from 'vitest';
import { parsePathInfoJson } from '../../src/cli/local-path-info.js';

const HELLO = '/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-hello-2.12';
const GLIBC = '/nix/store/11bgd045z0d4icpbc2yyz4gx48ak44la-glibc-2.35';
const DRV = '/nix/store/22bgd045z0d4icpbc2yyz4gx48ak44la-hello-2.12.drv';
const SIG = 'cache.nixos.org-1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==';
const HASH = 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=';
const CA = 'fixed:r:sha256:0grkpc553lbfym61cx48rj34i6r8zj39f98kd0gpyxayabk51z9q';

/** What both shapes below must parse to. */
const EXPECTED = [
  { path: HELLO, narHash: HASH, narSize: 226560, references: [GLIBC, HELLO], deriver: DRV, signatures: [SIG] },
  { path: GLIBC, narHash: HASH, narSize: 30000000, references: [GLIBC], ca: CA, signatures: [] },
];

const NIX_2_8 = JSON.stringify([
  { path: HELLO, narHash: HASH, narSize: 226560, references: [GLIBC, HELLO], deriver: DRV, registrationTime: 1700000000, signatures: [SIG], valid: true },
  { path: GLIBC, narHash: HASH, narSize: 30000000, references: [GLIBC], ca: CA, registrationTime: 1700000000, valid: true },
]);

const NIX_2_19 = JSON.stringify({
  [HELLO]: {
    ca: null,
    deriver: DRV,
    narHash: HASH,
    narSize: 226560,
    references: [GLIBC, HELLO],
    registrationTime: 1700000000,
    signatures: [SIG],
    ultimate: false,
  },
  [GLIBC]: { ca: CA, deriver: null, narHash: HASH, narSize: 30000000, references: [GLIBC], registrationTime: null, signatures: [], ultimate: true },
});

describe('parsePathInfoJson', () => {
  it.each([
    ['an array (Nix 2.8)', NIX_2_8],
    ['an object keyed by store path, with nulls (Nix ≥ 2.19)', NIX_2_19],
  ])('reads %s', (_what, text) => {
    expect(parsePathInfoJson(text)).toEqual(EXPECTED);
  });

  it('reads signatures given as null as none', () => {
    const text = JSON.stringify({ [GLIBC]: { narHash: HASH, narSize: 1, references: [], signatures: null } });
    expect(parsePathInfoJson(text)).toEqual([{ path: GLIBC, narHash: HASH, narSize: 1, references: [], signatures: [] }]);
  });

  it.each([
    ['Nix 2.8', JSON.stringify([{ path: HELLO, valid: false }])],
    ['Nix ≥ 2.19', JSON.stringify({ [HELLO]: null })],
  ])('reports a path the local store does not have as not found (%s)', (_nix, text) => {
    expect(() => parsePathInfoJson(text)).toThrow(
      expect.objectContaining({ code: 'NB_ERR_NOT_FOUND', message: `import: ${HELLO} is not in the local Nix store` }),
    );
  });

  it.each([
    ['not JSON', '[{'],
    ['a bare string', '"x"'],
    ['an array element without path', JSON.stringify([{ narHash: HASH, narSize: 1, references: [] }])],
    ['narSize as a string', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: '1', references: [] } })],
    ['a negative narSize', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: -1, references: [] } })],
    ['a fractional narSize', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: 1.5, references: [] } })],
    ['narHash missing', JSON.stringify({ [HELLO]: { narSize: 1, references: [] } })],
    ['references null', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: 1, references: null } })],
    ['a reference that is not a string', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: 1, references: [1] } })],
    ['deriver as a number', JSON.stringify({ [HELLO]: { narHash: HASH, narSize: 1, references: [], deriver: 1 } })],
    ['a value whose path differs from its key', JSON.stringify({ [HELLO]: { path: GLIBC, narHash: HASH, narSize: 1, references: [] } })],
  ])('rejects %s with one line naming what is wrong', (_what, text) => {
    expect(() => parsePathInfoJson(text)).toThrow(
      expect.objectContaining({ code: 'NB_ERR_UPSTREAM', message: expect.stringMatching(/^nix path-info --json: [^\n]+$/) }),
    );
  });
});
