// How errors appear in log lines: one line with the whole cause chain. Our own errors (a refused upload, an
// upstream or the storage failing) are expected operating conditions and carry stack frames only at debug;
// anything else is a bug and always carries them.
import { NarBridgeError } from '../errors.js';

interface LoggedError {
  readonly type: string;
  readonly code?: string;
  /** The message followed by each cause's: `upstream failed: fetch failed: connect ECONNREFUSED …`. */
  readonly message: string;
  /** The stack trace, or only its first line (`Type: message`) when frames are left out. */
  readonly stack: string;
  readonly [key: string]: unknown;
}

const VERBOSE_LEVELS = new Set(['debug', 'trace']);
/** Cause chains are short; the cap only guards against a cycle. */
const MAX_CAUSES = 8;

/** The `err` serializer for a logger at `level`. */
export function errorSerializer(level: string | undefined): (err: unknown) => LoggedError {
  const withStacks = level !== undefined && VERBOSE_LEVELS.has(level);
  return (err) => {
    if (!(err instanceof Error)) return { type: typeof err, message: String(err), stack: '' };
    const code = 'code' in err && typeof err.code === 'string' ? { code: err.code } : {};
    const message = messageChain(err);
    const frames = (withStacks || !NarBridgeError.is(err)) && err.stack !== undefined;
    return { type: err.name, ...code, message, stack: frames ? (err.stack ?? '') : `${err.name}: ${message}` };
  };
}

function messageChain(err: Error): string {
  let message = err.message;
  let cause: unknown = err.cause;
  for (let depth = 0; cause !== undefined && depth < MAX_CAUSES; depth++) {
    const text = cause instanceof Error ? cause.message : String(cause);
    // Wrappers often quote their cause already (`invalid xz data: <cause>`).
    if (text !== '' && !message.includes(text)) message += `: ${text}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return message;
}
