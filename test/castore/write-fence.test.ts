// The write fence across processes: each process (a serve worker, `nar-bridge gc` beside a server) has its own
// WriteFence, and they meet on a board in the shared database. Two fences on two connections to one database file,
// each with its own process id, stand for two processes; `alive` says which of those ids a liveness check finds.
import { afterEach, expect, test } from 'vitest';
import { SqliteFenceBoard, WriteFence } from '../../src/castore/index.js';
import { tempDatabases } from './temp-databases.js';

const dbs = tempDatabases('write-fence');
afterEach(() => dbs.cleanup());

const WORKER = 1_000_001;
const COLLECTOR = 1_000_002;

async function twoProcesses(alive: Set<number> = new Set([WORKER, COLLECTOR])) {
  const file = await dbs.file();
  const board = async (pid: number) => new SqliteFenceBoard(await dbs.open(file), { pid, isAlive: (p) => alive.has(p) });
  return { worker: new WriteFence(await board(WORKER)), collector: new WriteFence(await board(COLLECTOR)), alive };
}

function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a writer in one process keeps another process's exclusive section out until it is done", async () => {
  const { worker, collector } = await twoProcesses();
  const writing = gate();
  const events: string[] = [];
  const write = worker.shared(async () => {
    events.push('write started');
    await writing.opened;
    events.push('write done');
  });
  await tick(10);
  const gc = collector.exclusive(async () => events.push('gc'), 5_000);
  await tick(150);
  expect(events).toEqual(['write started']); // the GC waits for the other process's writer
  writing.open();
  await write;
  expect(await gc).not.toBeNull();
  expect(events).toEqual(['write started', 'write done', 'gc']);
});

test('a GC whose wait for writers times out skips its body, and writers of the other process go on', async () => {
  const { worker, collector } = await twoProcesses();
  const writing = gate();
  const write = worker.shared(() => writing.opened);
  await tick(10);
  let ran = false;
  expect(
    await collector.exclusive(async () => {
      ran = true;
    }, 100),
  ).toBeNull();
  expect(ran).toBe(false);
  // The fence is down again: a second writer of the worker enters at once.
  await expect(Promise.race([worker.shared(async () => 'second'), tick(200).then(() => 'blocked')])).resolves.toBe('second');
  writing.open();
  await write;
});

test("writers of one process wait while another process's exclusive section runs, and start after it", async () => {
  const { worker, collector } = await twoProcesses();
  const sweeping = gate();
  const events: string[] = [];
  const gc = collector.exclusive(async () => {
    events.push('gc started');
    await sweeping.opened;
    events.push('gc done');
  }, 5_000);
  await tick(10);
  // Both the first writer of the process and one joining a writer in flight are held off.
  const writes = [worker.shared(async () => events.push('write 1')), worker.shared(async () => events.push('write 2'))];
  await tick(150);
  expect(events).toEqual(['gc started']);
  sweeping.open();
  await gc;
  await Promise.all(writes);
  expect(events.slice(0, 2)).toEqual(['gc started', 'gc done']);
  expect(events).toHaveLength(4);
});

test('a writer joining others of its process in flight is held off by a fence raised after they began', async () => {
  const { worker, collector } = await twoProcesses();
  const first = gate();
  const events: string[] = [];
  const write1 = worker.shared(async () => {
    await first.opened;
    events.push('write 1');
  });
  await tick(10);
  const gc = collector.exclusive(async () => events.push('gc'), 5_000);
  await tick(50);
  const write2 = worker.shared(async () => events.push('write 2'));
  await tick(50);
  first.open();
  await Promise.all([write1, write2, gc]);
  expect(events).toEqual(['write 1', 'gc', 'write 2']);
});

test('a process that died writing, or died holding the fence, blocks nobody', async () => {
  const { worker, collector, alive } = await twoProcesses();
  void worker.shared(() => new Promise(() => undefined)); // never finishes: the process is killed mid-write
  await tick(10);
  alive.delete(WORKER);
  expect(await collector.exclusive(async () => 'swept', 1_000)).toEqual({ value: 'swept' });

  alive.add(WORKER);
  alive.delete(COLLECTOR);
  const { worker: w2, collector: c2 } = await twoProcesses(alive);
  void c2.exclusive(() => new Promise(() => undefined), 5_000); // killed mid-sweep
  await tick(10);
  await expect(Promise.race([w2.shared(async () => 'written'), tick(500).then(() => 'blocked')])).resolves.toBe('written');
});
