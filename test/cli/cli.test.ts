// The CLI as an operator meets it: the real bin/nar-bridge.js, its exit codes, and the first line it prints.
// Every failure an operator can cause is one line on stderr and exit 2, never a stack trace.
import { spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'bin', 'nar-bridge.js');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const COMMANDS = ['serve', 'keys', 'import', 'info', 'export', 'ls', 'cat', 'gc', 'delete', 'pin', 'unpin', 'pins', 'verify', 'migrate'];
/** Unprivileged, so permission checks apply (root bypasses them). */
const NOBODY = 65534;
/** Root, to drop to nobody; and nobody must be able to run this node (not so for one npx put under /root/.npm). */
const canRunAsNobody =
  process.getuid?.() === 0 && process.execPath.split('/').every((_, i, parts) => (statSync(parts.slice(0, i + 1).join('/') || '/').mode & 0o001) !== 0);

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(args: readonly string[], options: SpawnOptions = {}): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  // A server that should have failed to start would otherwise hang the test until vitest's timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

const firstLine = (text: string) => text.split('\n')[0];
const lines = (text: string) => text.split('\n').filter((line) => line !== '');

let dir: string;
let busy: Server;
let busyPort: number;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'nb-cli-'));
  chmodSync(dir, 0o755);
  busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const address = busy.address();
  busyPort = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => {
  busy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('help', () => {
  test.each([[[]], [['help']], [['--help']], [['-h']]])('nar-bridge %j lists the commands on stdout, exit 0', async (args) => {
    const result = await run(args);
    expect(result.code).toBe(0);
    expect(firstLine(result.stdout)).toBe('usage: nar-bridge <command> [options]');
    for (const command of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    // Short: the commands, not every command's options.
    expect(result.stdout).not.toContain('--max-nar-size');
    expect(result.stderr).toBe('');
  });

  test.each(COMMANDS)('nar-bridge %s --help, and help with its name, print its usage, exit 0', async (command) => {
    const viaFlag = await run([command, '--help']);
    expect(viaFlag.code).toBe(0);
    expect(firstLine(viaFlag.stdout)).toMatch(new RegExp(`^usage: nar-bridge ${command}( |$)`));
    expect(viaFlag.stderr).toBe('');
    const viaHelp = await run(['help', command]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
  });

  test('serve --help documents every serve flag', async () => {
    const { stdout } = await run(['serve', '-h']);
    for (const flag of ['--listen', '--data-dir', '--grpc-listen', '--tokens-file', '--signing-key-file', '--max-nar-size', '--upstream'])
      expect(stdout).toContain(flag);
  });

  test('--version prints the package version', async () => {
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`nar-bridge ${VERSION}\n`);
  });
});

/** [name, args, setup, exit code, exact first stderr line (DIR: the test's temp dir, BUSY: a port in use), extra env]. */
type Case = readonly [string, readonly string[], (() => void) | null, number, string, NodeJS.ProcessEnv?];

const cases: Case[] = [
  ['unknown command', ['frobnicate'], null, 2, "nar-bridge: unknown command 'frobnicate' (nar-bridge --help lists the commands)"],
  ['help for an unknown command', ['help', 'frobnicate'], null, 2, "nar-bridge: unknown command 'frobnicate' (nar-bridge --help lists the commands)"],
  ['unknown option', ['info', '--bogus'], null, 2, "nar-bridge info: unknown option '--bogus' (nar-bridge info --help lists the options)"],
  ['keys public of a missing file', ['keys', 'public', 'DIR/missing'], null, 2, 'nar-bridge: cannot open DIR/missing: no such file or directory'],
  [
    'keys public of a file that is not a key',
    ['keys', 'public', 'DIR/not-a-key'],
    () => writeFileSync(`${dir}/not-a-key`, 'hello\n'),
    2,
    'nar-bridge: secret key file DIR/not-a-key: secret key must be "<key name>:<base64>"',
  ],
  [
    'a signing key file that is not a key',
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', 'DIR/sk-store', '--signing-key-file', 'DIR/not-a-key'],
    () => writeFileSync(`${dir}/not-a-key`, 'hello\n'),
    2,
    'nar-bridge: secret key file DIR/not-a-key: secret key must be "<key name>:<base64>"',
  ],
  [
    'a config value of the wrong shape names the file and key',
    ['serve', '--config', 'DIR/listen.toml'],
    () => writeFileSync(`${dir}/listen.toml`, 'listen = 9108\n'),
    2,
    `nar-bridge: config file DIR/listen.toml: "listen" must be HOST:PORT, got '9108'`,
  ],
  [
    'a variable of the wrong shape is named',
    ['serve', '--data-dir', 'DIR/env-store'],
    null,
    2,
    'nar-bridge: NAR_BRIDGE_PRIORITY must be a non-negative integer',
    { NAR_BRIDGE_PRIORITY: 'high' },
  ],
  [
    'data dir is a file',
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', 'DIR/a-file'],
    () => writeFileSync(`${dir}/a-file`, ''),
    2,
    'nar-bridge: data dir DIR/a-file is not a directory',
  ],
  [
    'data dir below a file',
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', 'DIR/a-file/store'],
    () => writeFileSync(`${dir}/a-file`, ''),
    2,
    'nar-bridge: cannot create DIR/a-file/store: not a directory',
  ],
  [
    'listen port in use',
    ['serve', '--listen', '127.0.0.1:BUSY', '--data-dir', 'DIR/busy-store'],
    null,
    2,
    'nar-bridge: cannot listen on 127.0.0.1:BUSY: address already in use',
  ],
  [
    'gRPC port in use: startup fails instead of serving HTTP without it',
    ['serve', '--listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:BUSY', '--data-dir', 'DIR/grpc-store'],
    null,
    2,
    'nar-bridge: cannot serve gRPC on 127.0.0.1:BUSY: address already in use',
  ],
  ['info on a missing store', ['info', '--data-dir', 'DIR/none'], null, 2, 'nar-bridge: no store at DIR/none'],
  [
    'a background GC with metadata in PostgreSQL',
    ['serve', '--gc-interval', '1h', '--path-info-service-addr', 'postgres://127.0.0.1:1/x', '--data-dir', 'DIR/gc-store'],
    null,
    2,
    'nar-bridge: --gc-interval works on the embedded store or on PostgreSQL (path infos and directories at one URL) with s3:// blobs, not with --path-info-service-addr: nothing would collect; drop one of them',
  ],
  [
    'retention on a store replicas share (PostgreSQL and S3)',
    [
      'serve',
      '--gc-interval',
      '1h',
      '--gc-max-age',
      '7d',
      '--path-info-service-addr',
      'postgres://127.0.0.1:1/x',
      '--directory-service-addr',
      'postgres://127.0.0.1:1/x',
      '--blob-service-addr',
      's3://bucket/p',
      '--data-dir',
      'DIR/gc-store',
    ],
    null,
    2,
    'nar-bridge: --gc-max-size and --gc-max-age work on the embedded store only; on PostgreSQL, GC reclaims what no path needs',
  ],
  ['ls on a missing store', ['ls', '--data-dir', 'DIR/none', `/nix/store/${'a'.repeat(32)}-x`], null, 2, 'nar-bridge: no store at DIR/none'],
  ['export on a missing store', ['export', '--data-dir', 'DIR/none', `/nix/store/${'a'.repeat(32)}-x`], null, 2, 'nar-bridge: no store at DIR/none'],
  ['cat on a missing store', ['cat', '--data-dir', 'DIR/none', `/nix/store/${'a'.repeat(32)}-x/f`], null, 2, 'nar-bridge: no store at DIR/none'],
  [
    'import of a path the local store does not have',
    ['import', '--data-dir', 'DIR/import-store', `/nix/store/${'a'.repeat(32)}-missing`],
    null,
    1,
    `nar-bridge: import: /nix/store/${'a'.repeat(32)}-missing is not in the local Nix store`,
  ],
  [
    'import of a path outside the store',
    ['import', '--data-dir', 'DIR/import-store', '/tmp'],
    null,
    2,
    'nar-bridge: import: /tmp is not a store path (/nix/store/<hash>-<name>)',
  ],
];

describe('errors: one line on stderr', () => {
  for (const [name, args, setup, code, expected, env = {}] of cases)
    test(name, async () => {
      setup?.();
      const fill = (text: string) => text.replaceAll('DIR', dir).replaceAll('BUSY', String(busyPort));
      const result = await run(args.map(fill), { env: { ...process.env, ...env } });
      expect(firstLine(result.stderr)).toBe(fill(expected));
      expect(result.code).toBe(code);
      expect(lines(result.stderr)).toHaveLength(1);
      expect(result.stderr).not.toMatch(/^ {4}at /m);
    });

  test('read-only commands on a missing store create nothing', async () => {
    await run(['info', '--data-dir', `${dir}/never`]);
    await run(['ls', '--data-dir', `${dir}/never`, `/nix/store/${'a'.repeat(32)}-x`]);
    expect(existsSync(`${dir}/never`)).toBe(false);
  });
});

describe.runIf(canRunAsNobody)('permissions (run as nobody)', () => {
  const asNobody = { uid: NOBODY, gid: NOBODY, env: { ...process.env, HOME: '/nonexistent' } };

  test('a data dir that cannot be created', async () => {
    const parent = `${dir}/root-owned`;
    mkdirSync(parent, { mode: 0o755 });
    const result = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', `${parent}/store`], asNobody);
    expect(firstLine(result.stderr)).toBe(`nar-bridge: cannot create ${parent}/store: permission denied`);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
  });

  test('an existing store the server cannot write to refuses to start', async () => {
    const store = `${dir}/readonly-store`;
    expect((await run(['info', '--data-dir', store])).code).toBe(2); // no store yet
    mkdirSync(`${store}/blobs`, { recursive: true, mode: 0o755 });
    chownSync(store, NOBODY, NOBODY);
    // The store dir is nobody's, its blobs dir root's: metadata could be written, blobs could not.
    const result = await run(['serve', '--listen', '127.0.0.1:0', '--data-dir', store], asNobody);
    expect(firstLine(result.stderr)).toBe(`nar-bridge: data dir ${store} is not writable: ${store}/blobs: permission denied`);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
  });
});
