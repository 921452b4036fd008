// Progress on stderr: a redrawn bar on a terminal, throttled; plain lines every few seconds elsewhere.
import { expect, test } from 'vitest';
import { formatBytes, Progress } from '../../src/cli/progress.js';

function output(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, write: (text: string) => writes.push(text) } };
}

/** A clock the test moves by hand. */
function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('on a terminal the bar is drawn at once, redrawn at most every 100 ms, and cleared at the end', () => {
  const { writes, out } = output(true);
  const time = clock();
  const progress = new Progress(out, 4 * 1024 * 1024, time.now);
  time.advance(1000);
  progress.add(1024 * 1024);
  expect(writes).toEqual([`\r\x1b[K[########----------------------] 1.0 MiB / 4.0 MiB (25%), 1.0 MiB/s`]);
  time.advance(50);
  progress.add(1024 * 1024);
  expect(writes).toHaveLength(1);
  time.advance(950);
  progress.add(0);
  expect(writes[1]).toBe(`\r\x1b[K[###############---------------] 2.0 MiB / 4.0 MiB (50%), 1.0 MiB/s`);
  progress.finish();
  expect(writes[2]).toBe('\r\x1b[K');
  progress.finish();
  expect(writes).toHaveLength(3);
});

test('on a terminal a note clears the bar, prints its line, and the bar comes back under it', () => {
  const { writes, out } = output(true);
  const time = clock();
  const progress = new Progress(out, 100, time.now);
  progress.add(10);
  progress.note('[1/2] /nix/store/…-x');
  time.advance(1);
  progress.add(10);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress bar's terminal escapes are what is tested
  expect(writes.slice(1)).toEqual(['\r\x1b[K', '[1/2] /nix/store/…-x\n', expect.stringMatching(/^\r\x1b\[K\[#{6}-{24}\] 20 B \/ 100 B \(20%\)/)]);
});

test('elsewhere a plain line every 5 s, none before, and no control characters', () => {
  const { writes, out } = output(false);
  const time = clock();
  const progress = new Progress(out, 10 * 1024, time.now);
  progress.add(1024);
  time.advance(4_999);
  progress.add(1024);
  expect(writes).toEqual([]);
  time.advance(1);
  progress.add(1024);
  time.advance(1_000);
  progress.add(1024);
  progress.note('a note');
  progress.finish();
  expect(writes).toEqual(['3.0 KiB / 10.0 KiB (30%), 614 B/s\n', 'a note\n']);
});

test('count passes the bytes through unchanged while counting them', async () => {
  const { writes, out } = output(true);
  const progress = new Progress(out, 6);
  async function* source() {
    yield new Uint8Array([1, 2, 3]);
    yield new Uint8Array([4, 5, 6]);
  }
  const seen: number[] = [];
  for await (const chunk of progress.count(source())) seen.push(...chunk);
  expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  expect(writes[0]).toContain('3 B / 6 B (50%)');
});

test.each([
  [0, '0 B'],
  [1023, '1023 B'],
  [1024, '1.0 KiB'],
  [1536 * 1024 * 1024, '1.5 GiB'],
  [3 * 1024 ** 5, '3072.0 TiB'],
])('formatBytes(%d) is %s', (bytes, text) => {
  expect(formatBytes(bytes)).toBe(text);
});

test('items counted beside the bytes lead the line: paths done of paths to do', () => {
  const { writes, out } = output(false);
  const time = clock();
  const progress = new Progress(out, 4 * 1024 * 1024, time.now, { total: 10, noun: 'paths' });
  progress.add(1024 * 1024, 3);
  time.advance(5000);
  progress.add(1024 * 1024, 1);
  expect(writes).toEqual(['4/10 paths, 2.0 MiB / 4.0 MiB (50%), 409.6 KiB/s\n']);
});
