import { describe, expect, it } from 'vitest';
import { DrvOutputId, fingerprintRealisation, formatRealisation, parseRealisation, PublicKey } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

// Written by Nix 2.8 (`nix copy --to file://…` of a CA derivation whose input is another CA derivation).
const DEP_ID = 'sha256:06d06a8460ab3a855e2bb5a81b280c035864e89b60dea5ada912cb2300309883!out';
const TOP_ID = 'sha256:a37c6d520058b0d7487afb8db07a08b334189d53c013a31d3f9af2b4711b1186!out';
const TOP_DOI =
  `{"dependentRealisations":{"${DEP_ID}":"bgfa357s3pmlckzng8ra4kgiamk66fb8-cadep"},` +
  `"id":"${TOP_ID}","outPath":"fgbsahkybspxg0v6qifql54lcz1svryr-catop","signatures":[]}`;
const SIG_A = `cache-a:${Buffer.alloc(64, 1).toString('base64')}`;
const SIG_B = `cache-b:${Buffer.alloc(64, 2).toString('base64')}`;

/** TOP_DOI's object with `changes` applied (undefined removes a field). */
function doi(changes: Record<string, unknown>): string {
  const fields: Record<string, unknown> = { ...JSON.parse(TOP_DOI), ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete fields[key];
  return JSON.stringify(fields);
}

describe('DrvOutputId', () => {
  it('parses the id Nix writes and spells it back', () => {
    const id = DrvOutputId.parse(TOP_ID);
    expect(id.outputName).toBe('out');
    expect(Buffer.from(id.drvHash).toString('hex')).toBe(TOP_ID.slice(7, 71));
    expect(id.toString()).toBe(TOP_ID);
  });

  it.each([
    ['no output name', TOP_ID.replace('!out', '')],
    ['empty output name', TOP_ID.replace('!out', '!')],
    ['output name with a slash', TOP_ID.replace('!out', '!o/ut')],
    ['another hash algorithm', TOP_ID.replace('sha256:', 'sha1:')],
    ['a short hash', TOP_ID.replace('a37c', 'a37')],
    ['upper-case hex', TOP_ID.replace('a37c', 'A37C')],
  ])('refuses %s', (_why, text) => {
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => DrvOutputId.parse(text));
  });
});

describe('parseRealisation and formatRealisation', () => {
  it('parse every field and format back byte for byte what Nix wrote', () => {
    const realisation = parseRealisation(TOP_DOI);
    expect(realisation.id.toString()).toBe(TOP_ID);
    expect(realisation.outPath.basename).toBe('fgbsahkybspxg0v6qifql54lcz1svryr-catop');
    expect(realisation.dependentRealisations.map((d) => [d.id.toString(), d.outPath.basename])).toEqual([[DEP_ID, 'bgfa357s3pmlckzng8ra4kgiamk66fb8-cadep']]);
    expect(formatRealisation(realisation)).toBe(TOP_DOI);
  });

  it('keep signatures, sorted and without duplicates as Nix keeps them', () => {
    const realisation = parseRealisation(doi({ signatures: [SIG_B, SIG_A, SIG_B] }));
    expect(realisation.signatures.map(String)).toEqual([SIG_A, SIG_B]);
    expect(formatRealisation(realisation)).toBe(doi({ signatures: [SIG_A, SIG_B] }));
  });

  it('accept a document without the optional fields, as Nix reads it', () => {
    const realisation = parseRealisation(doi({ signatures: undefined, dependentRealisations: undefined }));
    expect(realisation.signatures).toEqual([]);
    expect(formatRealisation(realisation)).toBe(doi({ dependentRealisations: {} }));
  });

  it.each([
    ['not JSON', '{"id":'],
    ['not an object', '[]'],
    ['no id', doi({ id: undefined })],
    ['no outPath', doi({ outPath: undefined })],
    ['an absolute outPath', doi({ outPath: '/nix/store/fgbsahkybspxg0v6qifql54lcz1svryr-catop' })],
    ['a bad outPath hash', doi({ outPath: 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-catop' })],
    ['a malformed signature', doi({ signatures: ['cache-a:AAAA'] })],
    ['signatures not an array', doi({ signatures: SIG_A })],
    ['a dependent realisation with a bad id', doi({ dependentRealisations: { 'sha256:00!out': 'bgfa357s3pmlckzng8ra4kgiamk66fb8-cadep' } })],
    ['a dependent realisation with a bad path', doi({ dependentRealisations: { [DEP_ID]: 42 } })],
    ['an unknown field (it would be dropped when served back)', doi({ extra: 1 })],
  ])('refuse %s', (_why, text) => {
    const message = expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => parseRealisation(text));
    expect(message).toMatch(/^realisation/);
  });
});

// Signed by Nix 2.8 at build time (`secret-key-files`), the second one with a dependent realisation.
const SIGNED_DOIS = [
  '{"dependentRealisations":{},"id":"sha256:bbc311696556906e48e945809a272b5fc0aec5366fb00d812c923a099a59bf47!out","outPath":"vlnx3ic2i29yvfkrpmq9hxjgp7ajc55h-cadep","signatures":["rtest-1:KGu3LRMTHuuc0JR6y4s32rFEqHIkCwwRvQrl1ejMZnkk8Ic/FSvJQqo13hM+s3FjcoWLDE9/Dtapvpgt2JnfDQ=="]}',
  '{"dependentRealisations":{"sha256:bbc311696556906e48e945809a272b5fc0aec5366fb00d812c923a099a59bf47!out":"vlnx3ic2i29yvfkrpmq9hxjgp7ajc55h-cadep"},"id":"sha256:e360f61ce130c4db51a00adb953864b71504cd30d08f02c867b8f9b09b12c1e7!out","outPath":"3988qp9qw56xfw6vxrzvsbyvsy7sd14l-catop","signatures":["rtest-1:uxJ+rgJI/45beNosv2OS3bWXzCgUTv4BbXFPI0OWXhgG3rC8byOdSem21C2BJLcZXIo4+PhWspysnINAhy8RAA=="]}',
];
const SIGNING_KEY = PublicKey.parse('rtest-1:i0nJuaX9ngUnc6xCyBEIGLtB7xsUSG88de4Ykvlz8zw=');

describe('fingerprintRealisation', () => {
  it.each(SIGNED_DOIS)('is the text Nix 2.8 signed: %s', (text) => {
    const realisation = parseRealisation(text);
    const [signature] = realisation.signatures;
    expect(signature && SIGNING_KEY.verify(fingerprintRealisation(realisation), signature)).toBe(true);
    expect(formatRealisation(realisation)).toBe(text);
  });

  it('covers the output path', () => {
    const realisation = parseRealisation(SIGNED_DOIS[0] ?? '');
    const forged = parseRealisation((SIGNED_DOIS[0] ?? '').replace('vlnx3ic2i29yvfkrpmq9hxjgp7ajc55h', '0ggn6d3h2drx6yn0lh6rrw1wdpwm8cpa'));
    const [signature] = realisation.signatures;
    expect(signature && SIGNING_KEY.verify(fingerprintRealisation(forged), signature)).toBe(false);
  });
});
