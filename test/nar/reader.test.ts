// readNar's streaming contract: pull-based, zero-copy contents, skipping unread contents, and source cleanup.

import { describe, expect, it } from 'vitest';
import { readNar, type NarEvent } from '../../src/nar/index.js';
import { chunked, collectBytes, concatBytes, directoryNar, nar, snapshot, str, u64 } from './nar-bytes.js';

const MIB = 1024 * 1024;

/** A root directory holding `big` (a file of `size` bytes, value 7) followed by `small` ("hi"). */
function bigThenSmall(size: number): Uint8Array {
  return nar(
    'nix-archive-1',
    '(',
    'type',
    'directory',
    'entry',
    '(',
    'name',
    'big',
    'node',
    '(',
    'type',
    'regular',
    'contents',
    str(new Uint8Array(size).fill(7)),
    ')',
    ')',
    'entry',
    '(',
    'name',
    'small',
    'node',
    '(',
    'type',
    'regular',
    'contents',
    str('hi'),
    ')',
    ')',
    ')',
  );
}

/** Records how many chunks were pulled and whether the source was closed. */
function trackedSource(data: Uint8Array, chunkSize: number) {
  const state = { pulled: 0, closed: false };
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of chunked(data, () => chunkSize)) {
        state.pulled += 1;
        yield chunk;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: source() };
}

async function nextEvent(events: AsyncIterator<NarEvent>): Promise<NarEvent> {
  const next = await events.next();
  if (next.done === true) throw new Error('no more events');
  return next.value;
}

async function nextFile(events: AsyncIterator<NarEvent>) {
  const event = await nextEvent(events);
  if (event.type !== 'file') throw new Error(`expected a file, got ${event.type}`);
  return event;
}

describe('readNar streaming', () => {
  it('pulls only the chunks the consumer has asked for', async () => {
    const { state, source } = trackedSource(bigThenSmall(4 * MIB), 64 * 1024);
    const events = readNar(source);
    await nextEvent(events); // root directory
    const big = await nextFile(events);
    expect(state.pulled).toBe(1);
    const contents = big.contents[Symbol.asyncIterator]();
    await contents.next();
    await contents.next();
    expect(state.pulled).toBe(2);
    await events.return(undefined);
  });

  it('yields file contents as views of the input chunks, even when tokens straddle chunks', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const input = directoryNar(names, 'some contents that span several chunks');
    const chunks: Uint8Array[] = [];
    async function* source() {
      for await (const chunk of chunked(input, () => 13)) {
        chunks.push(chunk);
        yield chunk;
      }
    }
    const views: Uint8Array[] = [];
    for await (const event of readNar(source())) {
      if (event.type === 'file') for await (const view of event.contents) views.push(view);
    }
    expect(views.length).toBeGreaterThan(names.length);
    expect(views.filter((v) => !chunks.some((c) => c.buffer === v.buffer))).toEqual([]);
    expect(Buffer.concat(views).toString()).toBe('some contents that span several chunks'.repeat(names.length));
  });

  it('skips contents the consumer did not read and gives the right next event', async () => {
    const events = readNar(chunked(bigThenSmall(100_000), () => 4096));
    await nextEvent(events);
    const big = await nextFile(events);
    expect(big.size).toBe(100_000);
    const small = await nextFile(events);
    expect(Buffer.from(small.name ?? []).toString()).toBe('small');
    expect(Buffer.from(await collectBytes(small.contents)).toString()).toBe('hi');
    expect(await nextEvent(events)).toEqual({ type: 'end' });
    expect((await events.next()).done).toBe(true);
  });

  it('skips the rest of partly read contents', async () => {
    const events = readNar(chunked(bigThenSmall(100_000), () => 4096));
    await nextEvent(events);
    const big = await nextFile(events);
    for await (const view of big.contents) {
      expect(view.every((b) => b === 7)).toBe(true);
      break;
    }
    expect((await nextFile(events)).size).toBe(2);
  });

  it('refuses to iterate contents after the next event was pulled', async () => {
    const events = readNar(chunked(bigThenSmall(10)));
    await nextEvent(events);
    const big = await nextFile(events);
    await nextEvent(events);
    await expect(collectBytes(big.contents)).rejects.toThrow('NAR file contents read after the next event was pulled');
  });

  it('refuses to resume contents after the next event was pulled', async () => {
    const events = readNar(chunked(bigThenSmall(100_000), () => 4096));
    await nextEvent(events);
    const contents = (await nextFile(events)).contents[Symbol.asyncIterator]();
    await contents.next();
    await nextEvent(events);
    await expect(contents.next()).rejects.toThrow('NAR file contents read after the next event was pulled');
  });

  it('closes the source when the consumer stops early', async () => {
    const { state, source } = trackedSource(bigThenSmall(4 * MIB), 64 * 1024);
    for await (const event of readNar(source)) if (event.type === 'file') break;
    expect(state).toEqual({ pulled: 1, closed: true });
  });

  it('closes the source when the input is malformed', async () => {
    const { state, source } = trackedSource(concatBytes([nar('nix-archive-1', '(', 'type', 'fifo'), u64(0n)]), 8);
    await expect(snapshot(readNar(source))).rejects.toMatchObject({ code: 'NB_ERR_NAR_MALFORMED' });
    expect(state.closed).toBe(true);
  });

  it('hands out names that do not alias the input', async () => {
    const input = bigThenSmall(1);
    const events = readNar(chunked(input));
    await nextEvent(events);
    const big = await nextFile(events);
    input.fill(0);
    expect(Buffer.from(big.name ?? []).toString()).toBe('big');
  });

  it('ignores empty input chunks', async () => {
    const input = bigThenSmall(5);
    async function* withEmptyChunks() {
      for await (const chunk of chunked(input, () => 3)) {
        yield new Uint8Array(0);
        yield chunk;
      }
      yield new Uint8Array(0);
    }
    expect(await snapshot(readNar(withEmptyChunks()))).toEqual(await snapshot(readNar(chunked(input))));
  });
});
