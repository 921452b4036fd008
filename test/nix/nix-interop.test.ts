// Agreement with the real Nix 2.8 (Debian's nix-bin): key files, signatures and the narinfos it writes.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintPath, formatNarInfo, generateSigningKey, type NarInfo, parseNarInfo, PublicKey, SigningKey, StorePath } from '../../src/nix/index.js';

/** Runs `nix` with its home, config, caches and store confined to one temp directory. */
class NixSandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'nar-bridge-nix-'));
  readonly #env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: this.dir,
    XDG_CACHE_HOME: join(this.dir, 'cache-home'),
    XDG_CONFIG_HOME: join(this.dir, 'config'),
    XDG_DATA_HOME: join(this.dir, 'data'),
    XDG_STATE_HOME: join(this.dir, 'state'),
    NIX_CONF_DIR: join(this.dir, 'etc-nix'), // no /etc/nix/nix.conf
    NIX_REMOTE: '',
  };

  run(args: readonly string[], input?: string): string {
    return execFileSync('nix', ['--extra-experimental-features', 'nix-command', ...args], {
      env: this.#env,
      encoding: 'utf8',
      ...(input === undefined ? {} : { input }),
    });
  }

  /** Exit status and stderr, for commands expected to fail. */
  attempt(args: readonly string[]): { status: number | null; stderr: string } {
    const result = spawnSync('nix', ['--extra-experimental-features', 'nix-command', ...args], {
      env: { ...this.#env, XDG_CACHE_HOME: mkdtempSync(join(this.dir, 'cache-')) }, // no cached narinfos
      encoding: 'utf8',
    });
    return { status: result.status, stderr: result.stderr };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function fingerprint(info: NarInfo): string {
  return fingerprintPath(info.storePath, info.narHash, info.narSize, info.references);
}

describe('agreement with Nix 2.8', () => {
  let nix: NixSandbox;
  beforeAll(() => {
    nix = new NixSandbox();
  });
  afterAll(() => nix.remove());

  it('derives the same public key as `nix key convert-secret-to-public` from a Nix-made secret key', () => {
    const secret = nix.run(['key', 'generate-secret', '--key-name', 't']);
    const key = SigningKey.parse(secret);
    expect(key.toString()).toBe(secret.trim());
    expect(key.publicKey().toString()).toBe(nix.run(['key', 'convert-secret-to-public'], secret).trim());
  });

  it('writes secret key files that Nix reads', () => {
    const key = generateSigningKey('ours-1');
    expect(nix.run(['key', 'convert-secret-to-public'], key.toString()).trim()).toBe(key.publicKey().toString());
  });

  describe('on narinfos written by `nix copy --to file://`', () => {
    const keyFile = (name: string): string => join(nix.dir, `${name}.secret`);
    const narInfoFile = (path: string, cache = join(nix.dir, 'binary-cache')): string => join(cache, `${StorePath.parseAbsolute(path).hashPart}.narinfo`);
    let storePath: string;
    let publicKeys: PublicKey[];

    beforeAll(() => {
      const store = join(nix.dir, 'root');
      // Three text paths; b references the other two, written in unsorted order.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Nix expression, whose ${…} is Nix's own interpolation
      const expr = 'let z = builtins.toFile "zz" "z"; a = builtins.toFile "a" "x"; in builtins.toFile "b" "${z} ${a}"';
      storePath = nix.run(['eval', '--raw', '--store', store, '--expr', expr]);
      publicKeys = ['t2', 't1'].map((name) => {
        const secret = nix.run(['key', 'generate-secret', '--key-name', name]);
        writeFileSync(keyFile(name), secret);
        nix.run(['store', 'sign', '--store', store, '--key-file', keyFile(name), storePath]);
        return PublicKey.parse(nix.run(['key', 'convert-secret-to-public'], secret));
      });
      nix.run(['copy', '--store', store, '--to', `file://${join(nix.dir, 'binary-cache')}?compression=none`, storePath]);
    });

    it('formats them back byte for byte, with sorted References and Sig lines', () => {
      const text = readFileSync(narInfoFile(storePath), 'utf8');
      const info = parseNarInfo(text);
      expect(info.references).toHaveLength(2);
      expect(info.sigs.map((sig) => sig.keyName)).toEqual(['t1', 't2']);
      expect(formatNarInfo(info)).toBe(text);
    });

    it('verifies Nix signatures, and re-signing with the Nix key file gives the same bytes', () => {
      const info = parseNarInfo(readFileSync(narInfoFile(storePath), 'utf8'));
      for (const sig of info.sigs) {
        const publicKey = publicKeys.find((key) => key.name === sig.keyName);
        expect(publicKey?.verify(fingerprint(info), sig)).toBe(true);
        const ours = SigningKey.parse(readFileSync(keyFile(sig.keyName), 'utf8')).sign(fingerprint(info));
        expect(ours.toString()).toBe(sig.toString());
      }
    });

    it('makes signatures that `nix store verify` accepts from a trusted key, and only from it', () => {
      const key = generateSigningKey('ours-1');
      const info = parseNarInfo(readFileSync(narInfoFile(storePath), 'utf8'));
      // Without CA the path counts as input-addressed, so only a signature can make Nix trust it.
      delete info.ca;
      info.sigs = [key.sign(fingerprint(info))];
      const ourCache = join(nix.dir, 'our-cache');
      cpSync(join(nix.dir, 'binary-cache'), ourCache, { recursive: true });
      writeFileSync(narInfoFile(storePath, ourCache), formatNarInfo(info));
      const verify = (trusted: PublicKey) =>
        nix.attempt(['store', 'verify', '--no-contents', '--store', `file://${ourCache}`, '--option', 'trusted-public-keys', trusted.toString(), storePath]);

      expect(verify(key.publicKey())).toMatchObject({ status: 0 });
      const untrusted = verify(generateSigningKey('ours-1').publicKey());
      expect(untrusted.status).not.toBe(0);
      expect(untrusted.stderr).toContain('is untrusted');
    });
  });
});
