// The human-readable log: pino's JSON lines as one line each, access-log lines as `GET /url → status`, sizes readable.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prettyLogLine, prettyLogStream } from '../../src/cli/pretty-log.js';
import { serveSettings } from '../../src/cli/settings.js';
import { NarBridgeError } from '../../src/errors.js';

const TIME = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

describe('prettyLogLine', () => {
  it('writes a completion line as method, URL, status, sizes and time, with the refusal reason', () => {
    const json = JSON.stringify({
      level: 30,
      time: TIME,
      pid: 1,
      hostname: 'h',
      reqId: 'req-7',
      method: 'PUT',
      url: '/nar/x.nar',
      route: '/nar/:file',
      status: 400,
      bytesIn: 2048,
      bytesOut: 60,
      durationMs: 3.25,
      reason: 'not a NAR',
      msg: 'request completed',
    });
    expect(prettyLogLine(json)).toBe('03:04:05.678 INFO  request completed PUT /nar/x.nar → 400, 2.0 KiB in, 60 B out, 3.3 ms reqId=req-7 reason=not a NAR');
  });

  it('shows an error as its message, and stack frames on their own lines only when the line has them', () => {
    const plain = JSON.stringify({
      level: 40,
      time: TIME,
      err: { type: 'NarBridgeError', message: 'upstream failed: ECONNREFUSED', stack: 'NarBridgeError: upstream failed: ECONNREFUSED' },
      msg: 'upstream failed',
    });
    expect(prettyLogLine(plain)).toBe('03:04:05.678 WARN  upstream failed err=upstream failed: ECONNREFUSED');
    const framed = JSON.stringify({
      level: 50,
      time: TIME,
      err: { type: 'Error', message: 'bug', stack: 'Error: bug\n    at f (a.js:1:1)\n    at g (b.js:2:2)' },
      msg: 'request failed',
    });
    expect(prettyLogLine(framed).split('\n')).toEqual(['03:04:05.678 ERROR request failed err=bug', '    at f (a.js:1:1)', '    at g (b.js:2:2)']);
  });

  it('passes anything that is not a JSON object through', () => {
    expect(prettyLogLine('plain text')).toBe('plain text');
  });
});

it('prettyLogStream turns lines split across writes into whole human lines', async () => {
  const out = new PassThrough();
  const stream = prettyLogStream(out);
  const line = JSON.stringify({ level: 30, time: TIME, msg: 'nar-bridge listening', url: 'http://127.0.0.1:9000' });
  stream.write(line.slice(0, 10));
  stream.write(`${line.slice(10)}\n`);
  await new Promise<void>((resolve) => stream.end(resolve));
  expect(out.read()?.toString()).toBe('03:04:05.678 INFO  nar-bridge listening url=http://127.0.0.1:9000\n');
});

it('--log-format takes pretty or json, and refuses anything else', () => {
  expect(serveSettings([], {}).logFormat).toBeNull();
  expect(serveSettings(['--log-format', 'pretty'], {}).logFormat).toBe('pretty');
  expect(() => serveSettings(['--log-format', 'fancy'], {})).toThrow(NarBridgeError);
});
