// `node --import tsx bench/write-fence.ts [N]`: what the write fence costs a write, within one process and across
// processes (the board in meta.sqlite: a lone writer registers and deregisters, one joining others reads whether a
// fence is up). N writers (default 20,000) one after another, then N at once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, SqliteFenceBoard, WriteFence } from '../src/castore/index.js';

const N = Number(process.argv[2] ?? 20_000);
const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-fence-bench-'));
const db = openDatabase(join(dir, 'meta.sqlite'));
const micros = (since: bigint) => Number(process.hrtime.bigint() - since) / N / 1000;
const results: Record<string, { loneWriterMicros: number; joiningWriterMicros: number }> = {};
for (const [name, fence] of [
  ['one process', new WriteFence()],
  ['across processes', new WriteFence(new SqliteFenceBoard(db))],
] as const) {
  let started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fence.shared(async () => undefined);
  const lone = micros(started);
  started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: N }, () => fence.shared(() => new Promise<void>((resolve) => setImmediate(resolve)))));
  results[name] = { loneWriterMicros: Math.round(lone * 10) / 10, joiningWriterMicros: Math.round(micros(started) * 10) / 10 };
}
db.close();
await rm(dir, { recursive: true, force: true });
console.log(JSON.stringify({ writers: N, ...results }, null, 2));
