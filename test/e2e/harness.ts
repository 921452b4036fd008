// End-to-end harness: runs the nar-bridge CLI and the real Nix 2.8 client, makes fixture store paths, cleans up.
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The CLI under test. NB_E2E_SERVER_ENTRY points the suite at another build of the same contract. */
const DEFAULT_ENTRY = process.env.NB_E2E_SERVER_ENTRY ?? path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

// Limits. Every wait in this harness is a poll or an event raced against one of these deadlines.
/** First start compiles the TypeScript sources through tsx, which takes a few seconds on a cold cache. */
const SERVER_READY_TIMEOUT_MS = 30_000;
const SERVER_READY_POLL_MS = 50;
/** SIGTERM must finish in-flight work and close the data dir; anything slower is a bug worth seeing. */
const SERVER_STOP_TIMEOUT_MS = 15_000;
/** A Nix command that hangs (Nix 2.8 hangs forever on a PUT answered 5xx or 202, protocol doc §2.4) fails the test. */
export const NIX_DEFAULT_TIMEOUT_MS = 50_000;
/** Keep at most this much server output; logs only matter for diagnosing a failure. */
const SERVER_LOG_CAP_BYTES = 8 * 1024 * 1024;
/** Free-port races between parallel workers show up as EADDRINUSE; retry that many times with a new port. */
const PORT_RETRIES = 3;

// ---------------------------------------------------------------------------------------------------------------
// Cleanup registry: every resource the harness creates registers its disposal here; tests call cleanupE2E() in
// afterEach so a failing test still leaves no server running and no temp dir behind.

const pendingCleanups: Array<() => Promise<void>> = [];
/** Commands still running when a test ends (it timed out or threw): killed before their temp dirs go. */
const runningChildren = new Set<ChildProcess>();

/** Runs `fn` at the next cleanupE2E, latest first: for resources a test file starts itself. */
export function onCleanup(fn: () => Promise<void>): void {
  pendingCleanups.push(fn);
}

/** Servers started since the last cleanup, for showing their logs when a test fails. */
const startedServers: ServerHandle[] = [];
/** Enough log to see the failing request, not a whole 1 GiB upload's worth. */
const FAILURE_LOG_TAIL_CHARS = 20_000;

/**
 * Stops every server and removes every temp dir made since the last call (latest first). Pass the vitest context
 * (`afterEach(cleanupE2E)`) to get the servers' logs printed when the test failed.
 */
export async function cleanupE2E(ctx?: { task: { name: string; result?: { state?: string } } }): Promise<void> {
  const servers = startedServers.splice(0);
  for (const child of runningChildren) child.kill('SIGKILL');
  const errors: unknown[] = [];
  while (pendingCleanups.length > 0) {
    const fn = pendingCleanups.pop();
    try {
      await fn?.();
    } catch (err) {
      errors.push(err);
    }
  }
  // Printed after the servers have exited, so their last lines have arrived through the pipe.
  if (ctx?.task.result?.state === 'fail') {
    for (const s of servers) {
      console.error(`--- nar-bridge log (${s.url}) for failed test "${ctx.task.name}" ---\n${s.logs().slice(-FAILURE_LOG_TAIL_CHARS)}`);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'e2e cleanup failed');
}

/** Removes a tree that may hold read-only Nix store dirs (a chroot store is 0555 inside). */
export async function removeTree(dir: string): Promise<void> {
  await makeOwnerWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

async function makeOwnerWritable(p: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isDirectory()) return; // unlinking needs write access to the parent only
  if ((st.mode & 0o700) !== 0o700) await chmod(p, (st.mode & 0o7777) | 0o700);
  for (const name of await readdir(p)) await makeOwnerWritable(path.join(p, name));
}

/** A fresh temp dir, removed by cleanupE2E(). */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `nb-e2e-${prefix}-`));
  onCleanup(() => removeTree(dir));
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

export interface RunOptions {
  /** 'ok' (default) throws unless exit code 0; 'fail' throws if it succeeded; 'any' never throws on exit status. */
  readonly expect?: 'ok' | 'fail' | 'any';
  readonly timeoutMs?: number;
  readonly input?: string | Buffer;
  readonly cwd?: string;
}

/** Runs a command to completion with a deadline; captures stdout (bytes) and stderr. */
export async function runCommand(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? NIX_DEFAULT_TIMEOUT_MS;
  const child = spawn(cmd, args, {
    env,
    cwd: opts.cwd ?? REPO_ROOT,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // once() rejects if 'error' comes first (e.g. the command is not installed).
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  runningChildren.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  if (opts.input !== undefined) {
    // EPIPE when the child exits without reading its input; its exit status tells what went wrong.
    child.stdin?.on('error', (e) => err.push(Buffer.from(`[harness] stdin: ${String(e)}\n`)));
    child.stdin?.end(opts.input);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  let code: number | null;
  let signal: NodeJS.Signals | null;
  try {
    [code, signal] = await closed;
  } finally {
    clearTimeout(timer);
    runningChildren.delete(child);
  }
  const stdoutBytes = Buffer.concat(out);
  const result: RunResult = { code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') };
  const shown = `${cmd} ${args.map(shellQuote).join(' ')}`;
  if (timedOut) {
    throw new Error(`timed out after ${timeoutMs} ms: ${shown}\n--- stderr ---\n${result.stderr}`);
  }
  const expectWhat = opts.expect ?? 'ok';
  if (expectWhat === 'ok' && code !== 0) {
    throw new Error(`exit ${code ?? signal}: ${shown}\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${result.stdout}`);
  }
  if (expectWhat === 'fail' && code === 0) {
    throw new Error(`expected failure but succeeded: ${shown}\n--- stderr ---\n${result.stderr}`);
  }
  return result;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------------------------
// Nix client environment

/**
 * Settings for every Nix invocation. Each test gets its own XDG_CACHE_HOME too, because Nix caches nix-cache-info
 * for 7 days and narinfo hits/misses for 30 days/1 hour in $XDG_CACHE_HOME/nix (protocol doc §7); the TTLs of 0 also
 * stop a re-PUT narinfo (nix store sign) from being hidden behind a cached copy within one test.
 */
const NARINFO_CACHE_OFF = ['narinfo-cache-negative-ttl = 0', 'narinfo-cache-positive-ttl = 0'];
const nixConfig = (narinfoCache: NarInfoCache): string =>
  [
    'experimental-features = nix-command',
    'substituters =',
    'trusted-public-keys =',
    'require-sigs = true',
    ...(narinfoCache === 'off' ? NARINFO_CACHE_OFF : []),
    // Nix 2.8 hangs after retrying a failed PUT (doc §2.4); with one attempt it exits 1 and the test shows why.
    'download-attempts = 1',
    'connect-timeout = 5',
    // Fixture builds run as root without a daemon or build users (doc §9).
    'sandbox = false',
    'build-users-group =',
  ].join('\n');

/**
 * `off`: TTLs of 0 (the default for tests, see above). `defaults`: Nix's own TTLs, as users have them — e.g. a
 * push writes the narinfo it uploaded into the client cache, and later pulls on that machine use its URL (doc §7).
 */
export type NarInfoCache = 'off' | 'defaults';

export interface NixEnv {
  /** Temp dir holding this environment's HOME, caches and chroot stores; removed by cleanupE2E(). */
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  /** A fresh, not yet created chroot store directory for `--store`/`--to` (Nix creates it). */
  newStore(): string;
}

export async function nixEnv(narinfoCache: NarInfoCache = 'off'): Promise<NixEnv> {
  const root = await makeTempDir('nix');
  return nixEnvAt(root, narinfoCache);
}

async function nixEnvAt(root: string, narinfoCache: NarInfoCache = 'off'): Promise<NixEnv> {
  const dirs = { HOME: 'home', XDG_CACHE_HOME: 'cache', XDG_CONFIG_HOME: 'config', XDG_DATA_HOME: 'data', TMPDIR: 'tmp' };
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', NIX_CONFIG: nixConfig(narinfoCache), LC_ALL: 'C' };
  for (const [name, sub] of Object.entries(dirs)) {
    const dir = path.join(root, sub);
    await mkdir(dir, { recursive: true });
    env[name] = dir;
  }
  let stores = 0;
  return {
    root,
    env,
    newStore: () => path.join(root, `store-${++stores}`),
  };
}

/** Runs `nix ARGS` (the nix-command CLI). */
export function runNix(args: readonly string[], env: NixEnv, opts?: RunOptions): Promise<RunResult> {
  return runCommand('nix', args, env.env, opts);
}

/** Runs one of the classic tools: nix-store, nix-build, nix-hash. */
export function runNixTool(tool: 'nix-store' | 'nix-build' | 'nix-hash', args: readonly string[], env: NixEnv, opts?: RunOptions): Promise<RunResult> {
  return runCommand(tool, args, env.env, opts);
}

export interface PathInfoJson {
  readonly path: string;
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly deriver?: string;
  readonly ca?: string;
  readonly signatures?: readonly string[];
  readonly url?: string;
}

/** `nix path-info --json` for one path, from the local store or `--store STORE`. */
export async function pathInfo(storePath: string, env: NixEnv, store?: string): Promise<PathInfoJson> {
  const args = ['path-info', '--json', ...(store === undefined ? [] : ['--store', store]), storePath];
  const { stdout } = await runNix(args, env);
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed) || parsed.length !== 1) throw new Error(`unexpected path-info output: ${stdout}`);
  return parsed[0] as PathInfoJson;
}

// ---------------------------------------------------------------------------------------------------------------
// Server

export interface StartServerOptions {
  readonly dataDir: string;
  readonly extraArgs?: readonly string[];
  /** Listen on this port (e.g. to restart on the same one); default: a free port. */
  readonly port?: number;
  /** Script to run instead of bin/nar-bridge.js (harness self-tests). */
  readonly entry?: string;
  /** Replaces `--listen 127.0.0.1:PORT --data-dir DIR` (e.g. with a config file naming both), given that port. */
  readonly serveArgs?: (port: number) => readonly string[];
}

export interface ServerHandle {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Everything the server wrote to stdout and stderr so far. */
  logs(): string;
  /** stdout lines that parse as JSON objects. */
  logRecords(): Array<Record<string, unknown>>;
  /** SIGTERM (or the given signal) and wait for exit; throws unless the exit code is 0. */
  stop(signal?: 'SIGTERM' | 'SIGINT'): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill9(): Promise<void>;
  /** Peak resident set size so far, from /proc/PID/status VmHWM. */
  peakRssBytes(): Promise<number>;
}

/** Picks a free port by binding port 0 and closing it again (a small race, handled by retrying on EADDRINUSE). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (addr === null || typeof addr === 'string') throw new Error('no port from listen(0)');
  return addr.port;
}

class ServerExitedEarly extends Error {}

export async function startServer(opts: StartServerOptions): Promise<ServerHandle> {
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await startServerOnPort(opts, port);
    } catch (err) {
      const retry = err instanceof ServerExitedEarly && opts.port === undefined && attempt < PORT_RETRIES;
      if (!retry || !/address already in use/.test(err.message)) throw err;
    }
  }
}

async function startServerOnPort(opts: StartServerOptions, port: number): Promise<ServerHandle> {
  const entry = opts.entry ?? DEFAULT_ENTRY;
  const where = opts.serveArgs?.(port) ?? ['--listen', `127.0.0.1:${port}`, '--data-dir', opts.dataDir];
  const args = [entry, 'serve', ...where, ...(opts.extraArgs ?? [])];
  // One worker unless the test or the caller's environment asks for more: faster to start, and deterministic.
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { NAR_BRIDGE_WORKERS: '1', ...process.env } });
  const url = `http://127.0.0.1:${port}`;

  let output = '';
  let stdoutText = '';
  const capture = (which: 'out' | 'err') => (b: Buffer) => {
    const s = b.toString('utf8');
    output = (output + s).slice(-SERVER_LOG_CAP_BYTES);
    if (which === 'out') stdoutText = (stdoutText + s).slice(-SERVER_LOG_CAP_BYTES);
  };
  child.stdout?.on('data', capture('out'));
  child.stderr?.on('data', capture('err'));

  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      exit = { code, signal };
      resolve(exit);
    });
    child.on('error', (err) => {
      output += `\n[harness] spawn error: ${String(err)}`;
      exit = { code: null, signal: null };
      resolve(exit);
    });
  });

  const waitExit = async (timeoutMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const handle: ServerHandle = {
    url,
    port,
    process: child,
    logs: () => output,
    logRecords: () => parseJsonLines(stdoutText),
    async stop(signal = 'SIGTERM') {
      if (exit !== null) throw new Error(`server already exited (${describeExit(exit)})\n${output}`);
      child.kill(signal);
      const res = await waitExit(SERVER_STOP_TIMEOUT_MS);
      if (res === null) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`server did not exit within ${SERVER_STOP_TIMEOUT_MS} ms of ${signal}\n${output}`);
      }
      if (res.code !== 0) throw new Error(`server exited with ${describeExit(res)} after ${signal}, expected 0\n${output}`);
    },
    async kill9() {
      if (exit !== null) throw new Error(`server already exited (${describeExit(exit)})\n${output}`);
      child.kill('SIGKILL');
      await exited;
    },
    async peakRssBytes() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
      if (!m?.[1]) throw new Error(`no VmHWM in /proc/${child.pid}/status`);
      return Number(m[1]) * 1024;
    },
  };

  startedServers.push(handle);
  // Registered before waiting, so a server that never becomes ready is still reaped.
  onCleanup(async () => {
    if (exit !== null) return;
    child.kill('SIGTERM');
    if ((await waitExit(SERVER_STOP_TIMEOUT_MS)) === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });

  const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
  for (;;) {
    if (exit !== null) {
      throw new ServerExitedEarly(`server exited (${describeExit(exit)}) before answering /nix-cache-info:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/nix-cache-info`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return handle;
    } catch {
      // not listening yet: keep polling until the deadline
    }
    if (Date.now() > deadline) {
      throw new Error(`server not ready within ${SERVER_READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await waitExit(SERVER_READY_POLL_MS);
  }
}

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
}

function parseJsonLines(text: string): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) records.push(v as Record<string, unknown>);
    } catch {
      // a partial last line, or not JSON: not a log record
    }
  }
  return records;
}

// ---------------------------------------------------------------------------------------------------------------
// Recording proxy: sits between Nix and the server and records every request, so tests can count what Nix sent
// without depending on what the server chooses to log.

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  status?: number;
}

export interface RecordingProxy {
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'proxy-connection', 'upgrade']);

/** `route` picks another target per request (e.g. to spread one client's requests over replicas). */
export async function startRecordingProxy(targetUrl: string, route?: (req: RecordedRequest) => string): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  const agent = new http.Agent({ keepAlive: false });
  // Node answers `Expect: 100-continue` itself when there is no 'checkContinue' listener, as Nix's curl wants.
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = { method: req.method ?? '?', url: req.url ?? '' };
    requests.push(rec);
    const target = new URL(route?.(rec) ?? targetUrl);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = target.host;
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (upRes) => {
      rec.status = upRes.statusCode;
      const outHeaders: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) outHeaders[k] = v;
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      pipeline(upRes, res).catch(() => res.destroy());
    });
    upstream.on('error', () => {
      rec.status = 502;
      if (!res.headersSent) res.writeHead(502).end('proxy: upstream failed\n');
      else res.destroy();
    });
    pipeline(req, upstream).catch(() => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
  const proxy: RecordingProxy = {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    async close() {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
  onCleanup(() => proxy.close());
  return proxy;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers for hand-made requests

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

export async function httpRequest(
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE',
  url: string,
  body?: Uint8Array | string,
  contentType?: string,
): Promise<HttpResult> {
  const res = await fetch(url, {
    method,
    // Copied into a fresh ArrayBuffer-backed view: fetch's BodyInit does not accept every Uint8Array/Buffer.
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : new Uint8Array(body) }),
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: await res.text() };
}

// ---------------------------------------------------------------------------------------------------------------
// Nix formats (independent re-implementations, cross-checked against nix itself in fixtures.test.ts)

const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

/** Nix's base-32: 5-bit groups taken from the end of the byte string. */
export function nixBase32(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    const c = (((bytes[i] ?? 0) >> j) | ((bytes[i + 1] ?? 0) << (8 - j))) & 0x1f;
    out += NIX_BASE32_ALPHABET[c];
  }
  return out;
}

/** sha256 of bytes as Nix base-32 (as in `nix hash file --base32`). */
export function sha256Base32(bytes: Uint8Array): string {
  return nixBase32(createHash('sha256').update(bytes).digest());
}

/** Normalises `sha256-<base64>` (SRI) or `sha256:<base32>` to the base-32 digest. */
export function hashToBase32(h: string): string {
  if (h.startsWith('sha256-')) return nixBase32(Buffer.from(h.slice('sha256-'.length), 'base64'));
  if (h.startsWith('sha256:') && h.length === 'sha256:'.length + 52) return h.slice('sha256:'.length);
  throw new Error(`unsupported hash format: ${h}`);
}

/** The 32-character hash part of a store path. */
export function hashPart(storePath: string): string {
  const base = path.basename(storePath);
  return base.slice(0, 32);
}

/** The ed25519 fingerprint Nix signs (doc §6). References are full paths. */
export function nixFingerprint(info: { path: string; narHash: string; narSize: number; references: readonly string[] }): string {
  const refs = [...info.references].sort().join(',');
  return `1;${info.path};sha256:${hashToBase32(info.narHash)};${info.narSize};${refs}`;
}

// PKCS#8 DER prefix for a raw 32-byte ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** `name:base64sig` as Nix writes it for this secret key (ed25519 is deterministic, so this is exactly Nix's Sig). */
export function nixSign(secretKey: string, fingerprint: string): string {
  const colon = secretKey.indexOf(':');
  const name = secretKey.slice(0, colon);
  const raw = Buffer.from(secretKey.slice(colon + 1).trim(), 'base64');
  if (colon <= 0 || raw.length !== 64) throw new Error('malformed Nix secret key');
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  return `${name}:${cryptoSign(null, Buffer.from(fingerprint), key).toString('base64')}`;
}

export interface NarInfoFields {
  readonly storePath: string;
  readonly url: string;
  readonly compression: string;
  readonly fileHash?: string;
  readonly fileSize?: number;
  readonly narHash: string;
  readonly narSize: number;
  /** Basenames. */
  readonly references: readonly string[];
  readonly deriver?: string;
  readonly sigs?: readonly string[];
  readonly ca?: string;
}

/** A narinfo exactly as Nix 2.8 PUTs it (doc §2.3): fixed order, `References: ` always, final newline. */
export function formatNarInfo(f: NarInfoFields): string {
  const lines = [`StorePath: ${f.storePath}`, `URL: ${f.url}`, `Compression: ${f.compression}`];
  if (f.fileHash !== undefined) lines.push(`FileHash: ${f.fileHash}`);
  if (f.fileSize !== undefined) lines.push(`FileSize: ${f.fileSize}`);
  lines.push(`NarHash: ${f.narHash}`, `NarSize: ${f.narSize}`, `References: ${[...f.references].sort().join(' ')}`);
  if (f.deriver !== undefined) lines.push(`Deriver: ${f.deriver}`);
  for (const s of f.sigs ?? []) lines.push(`Sig: ${s}`);
  if (f.ca !== undefined) lines.push(`CA: ${f.ca}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Key → values (Sig may repeat). */
export function parseNarInfo(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`narinfo line without colon: ${JSON.stringify(line)}`);
    const key = line.slice(0, colon);
    const list = fields.get(key) ?? [];
    list.push(line.slice(colon + 2));
    fields.set(key, list);
  }
  return fields;
}

// ---------------------------------------------------------------------------------------------------------------
// File trees: what a store path looks like on disk, for byte-for-byte comparison of pushed and pulled paths.

export type TreeEntry =
  | { readonly path: string; readonly type: 'directory' }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string }
  | { readonly path: string; readonly type: 'regular'; readonly executable: boolean; readonly size: number; readonly sha256: string };

/** Everything a NAR records about the tree at root (names, types, executable bits, contents, link targets). */
export async function snapshotTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  async function walk(abs: string, rel: string): Promise<void> {
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      entries.push({ path: rel, type: 'symlink', target: await readlink(abs) });
    } else if (st.isDirectory()) {
      entries.push({ path: rel, type: 'directory' });
      for (const name of (await readdir(abs)).sort()) await walk(path.join(abs, name), rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      entries.push({ path: rel, type: 'regular', executable: (st.mode & 0o100) !== 0, size: st.size, sha256: await sha256File(abs) });
    } else {
      throw new Error(`unexpected file type at ${abs}`);
    }
  }
  await walk(root, '');
  return entries;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), async (src: AsyncIterable<Buffer>) => {
    for await (const chunk of src) h.update(chunk);
  });
  return h.digest('hex');
}

/** Where `storePath` lives inside the chroot store `storeRoot` (as used with `--store`). */
export function inChroot(storeRoot: string, storePath: string): string {
  return path.join(storeRoot, storePath);
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: real store paths made with real Nix (doc §9). All are deterministic, so re-adding is idempotent and the
// paths match the table in the protocol doc on x86_64-linux.

export interface Fixtures {
  readonly dir: string;
  /** `nix-store --add` of a file; CA fixed:r:sha256, NarSize 128. */
  readonly hello: string;
  /** `nix-store --add` of a directory: executable file, symlink, nested dirs, empty file. */
  readonly tree: string;
  /** builtins.toFile; CA text:sha256. */
  readonly dep: string;
  /** builtins.path of the same tree: same NAR as `tree`. */
  readonly deptree: string;
  /** Input-addressed, references dep, has a Deriver. */
  readonly x: string;
  /** Input-addressed, references deptree and dep, has a Deriver. */
  readonly y: string;
  readonly secretKeyFile: string;
  readonly secretKey: string;
  readonly publicKey: string;
  /** The Nix environment the fixtures were made with (use it for local-store queries). */
  readonly env: NixEnv;
}

const DRV_NIX = `let
  dep = builtins.toFile "dep.txt" "I am the dependency\\n";
  deptree = builtins.path { path = ./tree; name = "deptree"; };
in {
  x = builtins.derivation {
    name = "x"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "echo \${dep} > $out" ];
  };
  y = builtins.derivation {
    name = "y"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir $out; echo \${deptree} > $out/ref; /bin/ln -s \${dep} $out/deplink; echo building y; echo some stderr >&2" ];
  };
}
`;

let fixturesPromise: Promise<Fixtures> | undefined;
let fixturesDir: string | undefined;
const largePaths = new Map<number, Promise<string>>();

/** Memoized per test file (vitest isolates modules per file). Call disposeFixtures() in afterAll. */
export function makeFixtures(): Promise<Fixtures> {
  fixturesPromise ??= createFixtures();
  return fixturesPromise;
}

export async function disposeFixtures(): Promise<void> {
  const dir = fixturesDir;
  fixturesPromise = undefined;
  fixturesDir = undefined;
  largePaths.clear();
  if (dir !== undefined) await removeTree(dir);
}

async function createFixtures(): Promise<Fixtures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nb-e2e-fixtures-'));
  fixturesDir = dir;
  const env = await nixEnvAt(path.join(dir, 'env'));
  const src = path.join(dir, 'src');
  await mkdir(src);

  // Contents chosen so the paths equal the doc's table (hello z45ailnk…, tree 779m3di9…).
  const helloFile = path.join(src, 'hello.txt');
  await writeFile(helloFile, 'hello world\n');
  const treeDir = path.join(src, 'tree');
  await mkdir(path.join(treeDir, 'sub', 'deeper'), { recursive: true });
  await writeFile(path.join(treeDir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await chmod(path.join(treeDir, 'run.sh'), 0o755); // the umask may have dropped bits
  await symlink('run.sh', path.join(treeDir, 'link'));
  await writeFile(path.join(treeDir, 'sub', 'deeper', 'file.txt'), 'nested\n');
  await writeFile(path.join(treeDir, 'sub', 'empty'), '');
  const drvFile = path.join(src, 'drv.nix');
  await writeFile(drvFile, DRV_NIX);

  const hello = (await runNixTool('nix-store', ['--add', helloFile], env)).stdout.trim();
  const tree = (await runNixTool('nix-store', ['--add', treeDir], env)).stdout.trim();
  const built = (await runNixTool('nix-build', [drvFile, '--no-out-link'], env)).stdout.trim().split('\n');
  const x = built.find((p) => p.endsWith('-x'));
  const y = built.find((p) => p.endsWith('-y'));
  if (x === undefined || y === undefined) throw new Error(`nix-build printed ${built.join(', ')}`);
  const yRefs = (await runNixTool('nix-store', ['--query', '--references', y], env)).stdout.trim().split('\n');
  const dep = yRefs.find((p) => p.endsWith('-dep.txt'));
  const deptree = yRefs.find((p) => p.endsWith('-deptree'));
  if (dep === undefined || deptree === undefined) throw new Error(`unexpected references of y: ${yRefs.join(', ')}`);

  const secretKey = (await runNix(['key', 'generate-secret', '--key-name', 'test-1'], env)).stdout.trim();
  const secretKeyFile = path.join(dir, 'secret-key');
  await writeFile(secretKeyFile, secretKey, { mode: 0o600 });
  const publicKey = (await runNix(['key', 'convert-secret-to-public'], env, { input: secretKey })).stdout.trim();

  return { dir, hello, tree, dep, deptree, x, y, secretKeyFile, secretKey, publicKey, env };
}

/** A NAR of `storePath` (nix-store --dump) and the narinfo Nix would PUT for it uncompressed, built by hand. */
export async function handMadeUpload(fx: Fixtures, storePath: string): Promise<{ nar: Buffer; fileHash: string; narInfo: string }> {
  const nar = (await runNixTool('nix-store', ['--dump', storePath], fx.env)).stdoutBytes;
  const dir = await makeTempDir('nar');
  const narFile = path.join(dir, 'x.nar');
  await writeFile(narFile, nar);
  const fileHash = (await runNix(['hash', 'file', '--base32', '--type', 'sha256', narFile], fx.env)).stdout.trim();
  const info = await pathInfo(storePath, fx.env);
  const narInfo = formatNarInfo({
    storePath,
    url: `nar/${fileHash}.nar`,
    compression: 'none',
    fileHash: `sha256:${fileHash}`,
    fileSize: nar.length,
    narHash: `sha256:${hashToBase32(info.narHash)}`,
    narSize: info.narSize,
    references: info.references.map((r) => path.basename(r)),
    ...(info.ca === undefined ? {} : { ca: info.ca }),
  });
  return { nar, fileHash, narInfo };
}

/**
 * A content-addressed store path holding one file of `sizeMiB` MiB of incompressible bytes (AES-CTR keystream with
 * a fixed key, so the same size always gives the same path). Memoized per size.
 */
export function makeLargePath(sizeMiB: number): Promise<string> {
  let p = largePaths.get(sizeMiB);
  if (p === undefined) {
    p = createLargePath(sizeMiB);
    largePaths.set(sizeMiB, p);
  }
  return p;
}

async function createLargePath(sizeMiB: number): Promise<string> {
  const fx = await makeFixtures();
  const file = path.join(fx.dir, 'src', `large-${sizeMiB}MiB.bin`);
  await writePseudoRandomFile(file, sizeMiB * 1024 * 1024, `nar-bridge e2e ${sizeMiB}`);
  const timeoutMs = NIX_DEFAULT_TIMEOUT_MS + sizeMiB * 200;
  const storePath = (await runNixTool('nix-store', ['--add', file], fx.env, { timeoutMs })).stdout.trim();
  await rm(file);
  return storePath;
}

export async function writePseudoRandomFile(file: string, sizeBytes: number, seed: string): Promise<void> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  async function* keystream() {
    for (let left = sizeBytes; left > 0; left -= zeros.length) {
      yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
    }
  }
  await pipeline(keystream, createWriteStream(file));
}
