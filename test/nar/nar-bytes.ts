// Test helpers: NAR bytes built by hand (independent of src/nar/writer), chunked sources, and event snapshots.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { NarEvent } from '../../src/nar/index.js';

export { TVIX_DIR } from '../fixtures/tvix.js';
import { TVIX_DIR } from '../fixtures/tvix.js';

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(TVIX_DIR, name)));
}

export function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

/** A NAR string: u64 length, data, zero padding. */
export function str(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return concatBytes([u64(BigInt(bytes.length)), bytes, new Uint8Array((8 - (bytes.length % 8)) % 8)]);
}

/** NAR bytes from parts: strings become NAR strings, Uint8Arrays go in as they are. */
export function nar(...parts: (string | Uint8Array)[]): Uint8Array {
  return concatBytes(parts.map((p) => (typeof p === 'string' ? str(p) : p)));
}

/** Tokens of a directory entry `name` holding a regular file. */
export function fileEntry(name: string | Uint8Array, contents = ''): Uint8Array {
  return nar('entry', '(', 'name', str(name), 'node', '(', 'type', 'regular', 'contents', str(contents), ')', ')');
}

/** A root directory with the given (unchecked) entry names, each a file holding `contents`. */
export function directoryNar(names: readonly (string | Uint8Array)[], contents = ''): Uint8Array {
  return nar('nix-archive-1', '(', 'type', 'directory', ...names.map((n) => fileEntry(n, contents)), ')');
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Yields `data` in fresh chunks whose sizes come from `nextSize` (called per chunk). */
export async function* chunked(data: Uint8Array, nextSize: () => number = () => data.length): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; ) {
    const end = Math.min(data.length, at + Math.max(1, nextSize()));
    yield data.slice(at, end);
    at = end;
  }
}

/** Deterministic PRNG (mulberry32), so a failing random chunking can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concatBytes(parts);
}

/** An event with names, targets and contents as strings, for toEqual. */
export type EventSnapshot =
  | { type: 'directory'; name: string | null }
  | { type: 'end' }
  | { type: 'file'; name: string | null; executable: boolean; size: number; contents: string }
  | { type: 'symlink'; name: string | null; target: string };

export async function snapshot(events: AsyncIterable<NarEvent>): Promise<EventSnapshot[]> {
  const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('utf8'));
  const out: EventSnapshot[] = [];
  for await (const e of events) {
    if (e.type === 'end') out.push({ type: 'end' });
    else if (e.type === 'directory') out.push({ type: 'directory', name: text(e.name) });
    else if (e.type === 'symlink') out.push({ type: 'symlink', name: text(e.name), target: text(e.target) ?? '' });
    else {
      const contents = Buffer.from(await collectBytes(e.contents)).toString('utf8');
      out.push({ type: 'file', name: text(e.name), executable: e.executable, size: e.size, contents });
    }
  }
  return out;
}

/** Byte equality with a readable failure (toEqual on large typed arrays takes seconds). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect({ length: actual.length, firstDifference: firstDifference(actual, expected) }).toEqual({
    length: expected.length,
    firstDifference: -1,
  });
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)) return -1;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  return i;
}
