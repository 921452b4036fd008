// Helpers of the GC end-to-end tests: the CLI as a child process, pack bytes on disk, push and substitute with Nix.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { NIX_DEFAULT_TIMEOUT_MS, REPO_ROOT, runCommand, runNix, type NixEnv } from './harness.js';

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

export function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}, expect: 'ok' | 'fail' | 'any' = 'ok') {
  return runCommand(process.execPath, [CLI, ...args], { ...process.env, ...env }, { expect, timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
}

export async function packBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(path.join(dataDir, 'packs'))) total += (await stat(path.join(dataDir, 'packs', name))).size;
  return total;
}

export async function push(url: string, storePath: string, env: NixEnv): Promise<void> {
  await runNix(['copy', '--to', url, storePath], env, { timeoutMs: NIX_DEFAULT_TIMEOUT_MS });
}

export async function substitutes(url: string, storePath: string, env: NixEnv): Promise<boolean> {
  const result = await runNix(['copy', '--from', url, '--to', env.newStore(), '--option', 'require-sigs', 'false', storePath], env, {
    expect: 'any',
    timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
  });
  return result.code === 0;
}

/**
 * A push racing the sweep with a short upload grace may find its NAR's upload record gone by the time its narinfo comes
 * (400 "was not uploaded", nothing stored); Nix then needs one more try. So does a client that died of Nix's own
 * concurrent-copy bug ("coroutine has finished", NixOS/nix#6417; see faults.test.ts), and one whose dependency was
 * deleted between Nix finding it in the cache and checking it again before adding the referrer (Nix's own refusal,
 * "reference … is not valid": the server stored nothing). Anything else is a failure.
 */
export async function pushRacingSweep(url: string, storePath: string, env: NixEnv): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await push(url, storePath, env);
    } catch (err) {
      if (attempt === 3 || !(err instanceof Error && /was not uploaded|coroutine has finished|because the reference .* is not valid/.test(err.message)))
        throw err;
    }
  }
}
