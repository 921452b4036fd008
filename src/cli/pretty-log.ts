// Human-readable log lines for a terminal: pino's JSON lines turned into `time LEVEL message key=value …`,
// the access log as `GET /url → 200, 1.2 KiB out, 3 ms`. JSON stays the default off a terminal, for collectors.
import { Writable } from 'node:stream';
import { formatBytes } from '../http/index.js';

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** pino's own fields, shown in their place rather than as key=value. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'err']);
/** Shown in the access-log part of the line. */
const REQUEST_FIELDS = new Set(['method', 'url', 'status', 'bytesIn', 'bytesOut', 'durationMs', 'route']);
const BYTE_FIELDS = new Set(['narSize', 'fileSize', 'logSize', 'storedSize', 'diskBytes']);

/** One pino JSON line as one human line (plus indented stack frames, when the error carries them). */
export function prettyLogLine(json: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null) return json;
    entry = Object.fromEntries(Object.entries(parsed));
  } catch {
    return json; // not one of ours: pass it through untouched
  }
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const parts = [time, color ? `\x1b[${LEVEL_COLORS[level] ?? '0'}m${name}\x1b[0m` : name, String(entry.msg ?? '')];
  const isRequest = typeof entry.method === 'string' && typeof entry.url === 'string';
  if (isRequest) parts.push(requestSummary(entry));
  for (const [key, value] of Object.entries(entry)) {
    if (HIDDEN.has(key) || (isRequest && REQUEST_FIELDS.has(key))) continue;
    parts.push(`${key}=${BYTE_FIELDS.has(key) && typeof value === 'number' ? formatBytes(value) : typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  const err = errorParts(entry.err);
  if (err) parts.push(`err=${err.message}`);
  return [parts.filter((p) => p !== '').join(' '), ...(err?.frames ?? [])].join('\n');
}

/** `GET /x → 200, 12 B in, 1.2 KiB out, 3.1 ms` (only the parts the line has). */
function requestSummary(entry: Record<string, unknown>): string {
  const facts: string[] = [];
  if (typeof entry.bytesIn === 'number' && entry.bytesIn > 0) facts.push(`${formatBytes(entry.bytesIn)} in`);
  if (typeof entry.bytesOut === 'number') facts.push(`${formatBytes(entry.bytesOut)} out`);
  if (typeof entry.durationMs === 'number') facts.push(`${entry.durationMs.toFixed(1)} ms`);
  const status = typeof entry.status === 'number' ? ` → ${entry.status}` : '';
  return `${String(entry.method)} ${String(entry.url)}${status}${facts.length > 0 ? `, ${facts.join(', ')}` : ''}`;
}

function errorParts(err: unknown): { message: string; frames: string[] } | null {
  if (typeof err !== 'object' || err === null) return null;
  const message = 'message' in err ? String(err.message) : JSON.stringify(err);
  const stack = 'stack' in err && typeof err.stack === 'string' ? err.stack : '';
  return { message, frames: stack.split('\n').filter((line) => /^\s+at /.test(line)) };
}

/** A pino destination writing human lines to `out`. */
export function prettyLogStream(out: NodeJS.WritableStream & { readonly isTTY?: boolean }): Writable {
  const color = out.isTTY === true;
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      const text = lines
        .filter((l) => l !== '')
        .map((l) => `${prettyLogLine(l, color)}\n`)
        .join('');
      if (text === '' || out.write(text)) done();
      else out.once('drain', () => done());
    },
  });
}
