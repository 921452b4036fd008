// curl as the HTTP client for bulk transfers: native, so the client costs little of the CPU the server needs.
import { runCommand } from '../test/e2e/harness.js';

export interface Transfer {
  readonly status: number;
  /** Body bytes moved (downloaded for GET, uploaded for PUT). */
  readonly bytes: number;
  readonly seconds: number;
  /** curl gave up at --max-time; `bytes` is what arrived until then. */
  readonly cutOff: boolean;
}

/** curl's exit code for --max-time expiring. */
const CURL_TIMED_OUT = 28;
/** Leeway for curl itself to stop after its own --max-time. */
const KILL_AFTER_MS = 30_000;

const WRITE_OUT = '%{http_code} %{size_download} %{size_upload} %{time_total}';

/** GET `url` into /dev/null. */
export function download(url: string, maxSeconds: number): Promise<Transfer> {
  return curl(['-o', '/dev/null', url], maxSeconds, 'download');
}

/**
 * PUT `file` to `url`. No `Expect: 100-continue` wait, so the time is the server's alone (Nix sends the header, but
 * that round trip is not what ingest speed means).
 */
export function upload(file: string, url: string, maxSeconds: number): Promise<Transfer> {
  return curl(['-o', '/dev/null', '-H', 'Expect:', '-H', 'Content-Type: application/x-nix-nar', '-T', file, url], maxSeconds, 'upload');
}

async function curl(args: readonly string[], maxSeconds: number, direction: 'download' | 'upload'): Promise<Transfer> {
  const res = await runCommand('curl', ['-sS', '--max-time', String(maxSeconds), '-w', WRITE_OUT, ...args], process.env, {
    expect: 'any',
    timeoutMs: maxSeconds * 1000 + KILL_AFTER_MS,
  });
  const cutOff = res.code === CURL_TIMED_OUT;
  if (res.code !== 0 && !cutOff) throw new Error(`curl ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  const [status, down, up, seconds] = res.stdout.trim().split(' ').map(Number);
  if (status === undefined || down === undefined || up === undefined || seconds === undefined) throw new Error(`curl wrote ${res.stdout}`);
  return { status, bytes: direction === 'download' ? down : up, seconds, cutOff };
}
