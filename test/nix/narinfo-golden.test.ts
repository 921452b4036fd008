// The 978 cache.nixos.org narinfos in test/fixtures/tvix: exact round trip and signature checks.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fingerprintPath, formatNarInfo, type NarInfo, parseNarInfo, PublicKey } from '../../src/nix/index.js';
import { join } from 'node:path';
import { TVIX_DIR } from '../fixtures/tvix.js';

const GOLDEN = join(TVIX_DIR, 'cache-nixos-org-narinfos.zst');
const CACHE_NIXOS_ORG = PublicKey.parse('cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=');

// Node 20's zlib has no zstd. Each narinfo ends in '\n' and is followed by one more '\n'.
const texts = execFileSync('zstd', ['-dc', GOLDEN], { encoding: 'utf8', maxBuffer: 64 << 20 })
  .split(/(?<=\n)\n/)
  .filter((text) => text !== '');
const infos = texts.map((text) => ({ text, info: parseNarInfo(text) }));

function fingerprint(info: NarInfo, narSize = info.narSize): string {
  return fingerprintPath(info.storePath, info.narHash, narSize, info.references);
}

describe('cache.nixos.org narinfos', () => {
  it('are all there, including the rare System and CA lines', () => {
    expect(texts).toHaveLength(978);
    expect(infos.filter(({ info }) => info.system !== undefined)).toHaveLength(8);
    expect(infos.filter(({ info }) => info.ca !== undefined)).toHaveLength(8);
  });

  it('format back byte for byte', () => {
    const changed = infos.filter(({ text, info }) => formatNarInfo(info) !== text);
    expect(changed.map(({ info }) => info.storePath.basename)).toEqual([]);
  });

  it('each carry a Sig that verifies with the cache.nixos.org-1 key', () => {
    const unverified = infos.filter(({ info }) => info.sigs.length !== 1 || !info.sigs.every((sig) => CACHE_NIXOS_ORG.verify(fingerprint(info), sig)));
    expect(unverified.map(({ info }) => info.storePath.basename)).toEqual([]);
  });

  it('fail verification once NarSize changes, since NarSize is signed', () => {
    const stillVerified = infos.filter(({ info }) => info.sigs.some((sig) => CACHE_NIXOS_ORG.verify(fingerprint(info, info.narSize + 1), sig)));
    expect(stillVerified.map(({ info }) => info.storePath.basename)).toEqual([]);
  });
});
