import { afterEach, describe, expect, it } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { DrvOutputId, fingerprintRealisation, formatRealisation, generateSigningKey, makeRealisation, parseRealisation } from '../../src/nix/index.js';
import {
  checkRealisationPolicy,
  MemoryRealisationService,
  OPEN_UPLOAD_POLICY,
  SqliteRealisationService,
  type RealisationService,
  type UploadPolicy,
} from '../../src/store/index.js';
import { tempDatabases } from '../castore/temp-databases.js';

const ID = 'sha256:a37c6d520058b0d7487afb8db07a08b334189d53c013a31d3f9af2b4711b1186!out';
const DEP_ID = 'sha256:06d06a8460ab3a855e2bb5a81b280c035864e89b60dea5ada912cb2300309883!out';
const SIG_A = `cache-a:${Buffer.alloc(64, 1).toString('base64')}`;
const SIG_B = `cache-b:${Buffer.alloc(64, 2).toString('base64')}`;

function realisation(outPath: string, signatures: string[]) {
  return parseRealisation(JSON.stringify({ id: ID, outPath, signatures, dependentRealisations: { [DEP_ID]: 'bgfa357s3pmlckzng8ra4kgiamk66fb8-cadep' } }));
}
const OUT = 'fgbsahkybspxg0v6qifql54lcz1svryr-catop';
const OTHER_OUT = '0ggn6d3h2drx6yn0lh6rrw1wdpwm8cpa-catop';

const databases = tempDatabases('realisations');
afterEach(() => databases.cleanup());

async function open(file?: string): Promise<SqliteRealisationService> {
  return new SqliteRealisationService(await databases.open(file));
}

const backends: Array<[string, () => Promise<RealisationService>]> = [
  ['memory', async () => new MemoryRealisationService()],
  ['sqlite', () => open()],
];

describe.each(backends)('%s RealisationService', (_name, make) => {
  it('returns null for an output it has no realisation of', async () => {
    expect(await (await make()).get(DrvOutputId.parse(ID))).toBeNull();
  });

  it('serves back exactly what was stored', async () => {
    const service = await make();
    const stored = realisation(OUT, [SIG_A]);
    expect(formatRealisation(await service.put(stored))).toBe(formatRealisation(stored));
    const got = await service.get(DrvOutputId.parse(ID));
    expect(got && formatRealisation(got)).toBe(formatRealisation(stored));
  });

  it('merges the signatures of a second upload of the same output path', async () => {
    const service = await make();
    await service.put(realisation(OUT, [SIG_A]));
    const merged = await service.put(realisation(OUT, [SIG_B]));
    expect(merged.signatures.map(String)).toEqual([SIG_A, SIG_B]);
    const got = await service.get(DrvOutputId.parse(ID));
    expect(got?.signatures.map(String)).toEqual([SIG_A, SIG_B]);
  });

  it('refuses a realisation naming another output path, and keeps the first', async () => {
    const service = await make();
    await service.put(realisation(OUT, [SIG_A]));
    const refused = await service.put(realisation(OTHER_OUT, [SIG_B])).catch((err: unknown) => err);
    expect(NarBridgeError.is(refused) && refused.code).toBe('NB_ERR_FORBIDDEN');
    const got = await service.get(DrvOutputId.parse(ID));
    expect(got?.outPath.basename).toBe(OUT);
    expect(got?.signatures.map(String)).toEqual([SIG_A]);
  });
});

describe('SqliteRealisationService', () => {
  it('keeps realisations across reopening the database', async () => {
    const file = await databases.file();
    await (await open(file)).put(realisation(OUT, [SIG_A]));
    const got = await (await open(file)).get(DrvOutputId.parse(ID));
    expect(got && formatRealisation(got)).toBe(formatRealisation(realisation(OUT, [SIG_A])));
  });
});

describe('checkRealisationPolicy', () => {
  const trusted = generateSigningKey('trusted-1');
  const stranger = generateSigningKey('stranger-1');
  const policy: UploadPolicy = { trustedKeys: [trusted.publicKey()], requireSigned: true };
  const unsigned = realisation(OUT, []);
  const signedBy = (key: typeof trusted) => makeRealisation({ ...unsigned, signatures: [key.sign(fingerprintRealisation(unsigned))] });

  it('accepts anything under the open policy', () => {
    expect(() => checkRealisationPolicy(unsigned, OPEN_UPLOAD_POLICY)).not.toThrow();
  });

  it('accepts a realisation signed by a trusted key when signed uploads are required', () => {
    expect(() => checkRealisationPolicy(signedBy(trusted), policy)).not.toThrow();
  });

  it.each([
    ['unsigned', unsigned],
    ['signed by another key', signedBy(stranger)],
    ['signed by a trusted key over another output path', makeRealisation({ ...realisation(OTHER_OUT, []), signatures: signedBy(trusted).signatures })],
  ])('refuses one %s: no content address can vouch for a realisation', (_why, candidate) => {
    let refused: unknown;
    try {
      checkRealisationPolicy(candidate, policy);
    } catch (err) {
      refused = err;
    }
    expect(NarBridgeError.is(refused) && refused.code).toBe('NB_ERR_FORBIDDEN');
  });
});
