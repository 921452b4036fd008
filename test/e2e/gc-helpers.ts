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
