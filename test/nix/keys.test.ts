import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, PublicKey, Signature, SigningKey } from '../../src/nix/index.js';
import { expectNarBridgeError } from './expect-error.js';

const FINGERPRINT = '1;/nix/store/z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt;sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil;128;';

/** A secret key file whose halves are `seed` and `pub`, base64-encoded as Nix writes them. */
function secretKeyFile(name: string, seed: Uint8Array, pub: Uint8Array): string {
  return `${name}:${Buffer.concat([seed, pub]).toString('base64')}`;
}

describe('signing keys', () => {
  it('sign fingerprints that their public key verifies', () => {
    const key = generateSigningKey('test-1');
    const sig = key.sign(FINGERPRINT);
    expect(sig.keyName).toBe('test-1');
    expect(sig.bytes).toHaveLength(64);
    expect(key.publicKey().verify(FINGERPRINT, sig)).toBe(true);
    expect(key.publicKey().verify(FINGERPRINT.replace(';128;', ';129;'), sig)).toBe(false);
  });

  it('reject signatures by another key, or under another key name', () => {
    const key = generateSigningKey('test-1');
    const sig = key.sign(FINGERPRINT);
    expect(generateSigningKey('test-1').publicKey().verify(FINGERPRINT, sig)).toBe(false);
    const renamed = PublicKey.fromParts('test-2', key.publicKey().bytes);
    expect(renamed.verify(FINGERPRINT, sig)).toBe(false);
  });

  it('survive a round trip through the secret key file, signing identically (ed25519 is deterministic)', () => {
    const key = generateSigningKey('test-1');
    const reparsed = SigningKey.parse(`\n  ${key.toString()}\n`);
    expect(reparsed.name).toBe('test-1');
    expect(reparsed.publicKey().toString()).toBe(key.publicKey().toString());
    expect(reparsed.sign(FINGERPRINT).toString()).toBe(key.sign(FINGERPRINT).toString());
  });

  it('reject a secret key file whose public half does not match its seed', () => {
    const [a, b] = [generateSigningKey('k'), generateSigningKey('k')];
    const seed = Buffer.from(a.toString().slice(2), 'base64').subarray(0, 32);
    const message = expectNarBridgeError('NB_ERR_CONFIG', () => SigningKey.parse(secretKeyFile('k', seed, b.publicKey().bytes)));
    expect(message).toContain('does not match');
  });

  it.each([
    ['no key name', 'AAAA'],
    ['an empty key name', `:${Buffer.alloc(64).toString('base64')}`],
    ['a space in the key name', `my key:${Buffer.alloc(64).toString('base64')}`],
    ['invalid base64', 'k:not*base64'],
    ['a public key instead', `k:${Buffer.alloc(32).toString('base64')}`],
    ['nothing', ''],
  ])('reject a secret key file with %s', (_label, text) => {
    expectNarBridgeError('NB_ERR_CONFIG', () => SigningKey.parse(text));
  });

  it('keep the seed out of util.inspect and JSON', () => {
    const key = generateSigningKey('test-1');
    expect(inspect(key, { depth: 5, showHidden: true })).toBe("SigningKey { name: 'test-1' }");
    expect(JSON.stringify(key)).toBe('{"name":"test-1"}');
  });
});

describe('public keys and signatures', () => {
  it('parse and format the cache.nixos.org key', () => {
    const text = 'cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=';
    const key = PublicKey.parse(text);
    expect(key.name).toBe('cache.nixos.org-1');
    expect(key.bytes).toHaveLength(32);
    expect(key.toString()).toBe(text);
  });

  it.each([
    ['a secret key', `k:${Buffer.alloc(64).toString('base64')}`],
    ['no key name', Buffer.alloc(32).toString('base64')],
    ['unpadded base64', `k:${Buffer.alloc(32).toString('base64').replace('=', '')}`],
  ])('reject %s as a public key', (_label, text) => {
    expectNarBridgeError('NB_ERR_CONFIG', () => PublicKey.parse(text));
  });

  it('parse and format a Sig value', () => {
    const text = 'test-1:9GTMq1XSvSHouP99YcflzbY3V+VPxWtfv3X5wpIjP1E/9oHJVYYTsX7uP9FFkobJLri+K3TwTb/dqyB/nVCoDg==';
    const sig = Signature.parse(text);
    expect(sig.keyName).toBe('test-1');
    expect(sig.toString()).toBe(text);
    expect(Signature.fromParts(sig.keyName, sig.bytes).toString()).toBe(text);
  });

  it.each([
    ['63 bytes', `k:${Buffer.alloc(63).toString('base64')}`],
    ['65 bytes', `k:${Buffer.alloc(65).toString('base64')}`],
    ['no key name', `:${Buffer.alloc(64).toString('base64')}`],
    ['no colon', Buffer.alloc(64).toString('base64')],
    ['base64 with stray characters', `k:${Buffer.alloc(64).toString('base64')}!`],
  ])('reject a Sig of %s', (_label, text) => {
    expectNarBridgeError('NB_ERR_NARINFO_MALFORMED', () => Signature.parse(text));
  });
});
