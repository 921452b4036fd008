// The Nix client side of the benchmark: `nix copy` both ways with wall-clock timing, and NAR URLs from narinfos.
import { hashPart, nixEnv, parseNarInfo, removeTree, runNix, type NixEnv } from '../test/e2e/harness.js';

/** A 1 GiB push or pull through a slow server still finishes; a hang (doc §2.4) fails the run instead of stalling it. */
const NIX_COPY_TIMEOUT_MS = 600_000;

/** Seconds of wall time `fn` took. */
export async function timeSeconds(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** `nix copy --from <chroot store> --to <storeUrl> paths`; returns wall seconds. */
export function nixCopyTo(fromStore: string, storeUrl: string, paths: readonly string[], env: NixEnv): Promise<number> {
  return timeSeconds(() => runNix(['copy', '--from', fromStore, '--to', storeUrl, ...paths], env, { timeoutMs: NIX_COPY_TIMEOUT_MS }));
}

/**
 * `nix copy --from <cacheUrl>` into a fresh chroot store on tmpfs, with a fresh Nix cache dir (Nix remembers narinfos
 * and nix-cache-info there, doc §7), removed afterwards; returns wall seconds. Input-addressed fixtures are unsigned.
 */
export async function nixCopyFrom(cacheUrl: string, storePath: string): Promise<number> {
  const env = await nixEnv();
  try {
    const args = ['copy', '--from', cacheUrl, '--to', env.newStore(), '--no-check-sigs', storePath];
    return await timeSeconds(() => runNix(args, env, { timeoutMs: NIX_COPY_TIMEOUT_MS }));
  } finally {
    await removeTree(env.root);
  }
}

/** The absolute NAR URL a server's narinfo for `storePath` points at (relative URLs join the base, doc §1). */
export async function narUrlOf(serverUrl: string, storePath: string): Promise<string> {
  const res = await fetch(`${serverUrl}/${hashPart(storePath)}.narinfo`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${serverUrl}: narinfo for ${storePath} answered ${res.status}: ${text}`);
  const url = parseNarInfo(text).get('URL')?.[0];
  if (url === undefined) throw new Error(`${serverUrl}: narinfo for ${storePath} has no URL`);
  return /^https?:\/\//.test(url) ? url : `${serverUrl}/${url}`;
}
