// The one place a command's failure becomes what the operator sees: one line on stderr and an exit code.
// Exit 1: the store answered "no" (a path or file it does not have). Exit 2: the command could not run as
// invoked (bad flag or config, a file or port it cannot use, a store that is missing or not writable).
// Anything not recognised here is a bug and keeps its stack trace.
import { NarBridgeError } from '../errors.js';

interface Failure {
  readonly message: string;
  readonly exitCode: 1 | 2;
}

/** What an OS error means to an operator, by errno code; codes not listed are unexpected. */
const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'a file is in the way',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
};

/** `command` is the subcommand run (for the --help hint), if any. */
export function failure(err: unknown, command: string | undefined): Failure | null {
  const prefix = command === undefined ? 'nar-bridge' : `nar-bridge ${command}`;
  if (NarBridgeError.is(err)) {
    const exitCode =
      err.code === 'NB_ERR_NOT_FOUND' || err.code === 'NB_ERR_CONFLICT' ? 1 : err.code === 'NB_ERR_CONFIG' || err.code === 'NB_ERR_STORAGE' ? 2 : null;
    if (exitCode === null) return null;
    const reason = osReason(err.cause);
    return { message: `nar-bridge: ${err.message}${reason === null ? '' : `: ${reason}`}`, exitCode };
  }
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
    // Node's message adds advice about `--` to its first sentence; the command's --help says more.
    const first = err.message.split('. ')[0] ?? err.message;
    const hint = command === undefined ? 'nar-bridge --help' : `nar-bridge ${command} --help`;
    return { message: `${prefix}: ${first.charAt(0).toLowerCase()}${first.slice(1)} (${hint} lists the options)`, exitCode: 2 };
  }
  const os = osError(err);
  if (os === null) return null;
  return { message: `nar-bridge: ${describeOsError(os)}`, exitCode: 2 };
}

interface OsError {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly address?: string;
  readonly port?: number;
}

function osError(err: unknown): OsError | null {
  if (typeof err !== 'object' || err === null || !('code' in err) || typeof err.code !== 'string') return null;
  return Object.hasOwn(REASONS, err.code) ? (err as OsError) : null;
}

function osReason(err: unknown): string | null {
  const os = osError(err);
  return os === null ? null : (REASONS[os.code] ?? null);
}

function describeOsError(err: OsError): string {
  const reason = REASONS[err.code] ?? err.code;
  if (err.syscall === 'listen' || err.syscall === 'bind') {
    const host = err.address?.includes(':') ? `[${err.address}]` : err.address;
    return `cannot listen on ${host}:${err.port}: ${reason}`;
  }
  const verb = err.syscall === 'mkdir' ? 'create' : err.syscall === 'open' ? 'open' : 'use';
  return err.path === undefined ? reason : `cannot ${verb} ${err.path}: ${reason}`;
}
