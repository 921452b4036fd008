// POST /admin/gc: a write (a read token or none is refused), ?dry-run=1 is passed on, the report comes back as JSON,
// a run already going is 409 with its reason; without a collector (no embedded store) the route does not exist.
import type { FastifyInstance } from 'fastify';
import { afterEach, expect, test } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { buildServer } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import type { GcReport } from '../../src/store/index.js';
import { servedMemoryStore } from '../store/memory-store.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const REPORT: GcReport = {
  dryRun: false,
  evicted: ['aaa-x'],
  directories: 2,
  records: 3,
  chunkLists: 0,
  objectBytes: 300,
  uploads: 1,
  buildLogs: 0,
  packsRemoved: 1,
  diskBytesFreed: 4096,
  durationMs: 12,
  fencedMs: 5,
};

test('POST /admin/gc needs a write token, passes dry-run on, and answers the report as JSON; a run going is 409', async () => {
  const calls: boolean[] = [];
  app = await buildServer({
    store: servedMemoryStore(),
    priority: 40,
    access: { tokens: AccessTokens.parse('write w-0123456789abcdef\nread r-0123456789abcdef\n'), privateReads: false },
    collectGarbage: async (dryRun) => {
      calls.push(dryRun);
      if (calls.length === 3) throw new NarBridgeError('NB_ERR_CONFLICT', 'another garbage collection is running (pid 7)');
      return { ...REPORT, dryRun };
    },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (query: string, token?: string) =>
    fetch(`${base}/admin/gc${query}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect((await post('')).status).toBe(401);
  expect((await post('', 'r-0123456789abcdef')).status).toBe(403);
  expect(calls).toEqual([]);
  const dry = await post('?dry-run=1', 'w-0123456789abcdef');
  expect(dry.status).toBe(200);
  expect(dry.headers.get('content-type')).toMatch(/application\/json/);
  expect(await dry.json()).toEqual({ ...REPORT, dryRun: true });
  expect(await (await post('', 'w-0123456789abcdef')).json()).toEqual(REPORT);
  const busy = await post('', 'w-0123456789abcdef');
  expect(busy.status).toBe(409);
  expect(await busy.text()).toMatch(/another garbage collection is running/);
  expect(calls).toEqual([true, false, false]);
});

test('without a collector there is no /admin/gc', async () => {
  app = await buildServer({ store: servedMemoryStore(), priority: 40 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  expect((await fetch(`${base}/admin/gc`, { method: 'POST' })).status).toBe(404);
});
