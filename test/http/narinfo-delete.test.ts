// DELETE /<hash>.narinfo: a write (a read token or none is refused), the store's refusal becomes 409 with its reason,
// ?recursive=1 is passed on; without a deleter (no embedded store) the route does not exist. Narinfo hits are
// reported for retention's access times.
import type { FastifyInstance } from 'fastify';
import { afterEach, expect, test } from 'vitest';
import { NarBridgeError } from '../../src/errors.js';
import { buildServer } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import { SymlinkTarget } from '../../src/castore/index.js';
import { NixHash, StorePath } from '../../src/nix/index.js';
import { composeStore } from '../../src/store/index.js';
import { memoryStore, servedMemoryStore } from '../store/memory-store.js';

const HASH = '0nbcvsdx89wv4wls9gwmk5hdf592vsdh';
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

test('DELETE needs a write token, passes recursive on, and answers a refusal with 409 and the reason', async () => {
  const calls: Array<{ recursive: boolean }> = [];
  app = await buildServer({
    store: servedMemoryStore(),
    priority: 40,
    access: { tokens: AccessTokens.parse('write w-0123456789abcdef\nread r-0123456789abcdef\n'), privateReads: false },
    deletePaths: async (_digests, recursive) => {
      calls.push({ recursive });
      if (!recursive) throw new NarBridgeError('NB_ERR_CONFLICT', 'x is referenced by y, which is kept');
      return ['aaa-x', 'bbb-y'];
    },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const del = (query: string, token?: string) =>
    fetch(`${base}/${HASH}.narinfo${query}`, { method: 'DELETE', headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect((await del('')).status).toBe(401);
  expect((await del('', 'r-0123456789abcdef')).status).toBe(403);
  expect(calls).toEqual([]);
  const refused = await del('', 'w-0123456789abcdef');
  expect(refused.status).toBe(409);
  expect(await refused.text()).toMatch(/referenced by y/);
  const done = await del('?recursive=1', 'w-0123456789abcdef');
  expect(done.status).toBe(200);
  expect(await done.text()).toBe('deleted aaa-x\ndeleted bbb-y\n');
  expect(calls).toEqual([{ recursive: false }, { recursive: true }]);
});

test('without a deleter there is no DELETE route', async () => {
  app = await buildServer({ store: servedMemoryStore(), priority: 40 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  expect((await fetch(`${base}/${HASH}.narinfo`, { method: 'DELETE' })).status).toBe(404);
});

test('every narinfo served is reported for access times; a miss is not', async () => {
  const backends = memoryStore();
  const path = StorePath.parseBasename('0nbcvsdx89wv4wls9gwmk5hdf592vsdh-link');
  await backends.pathInfos.put({
    storePath: path,
    node: { kind: 'symlink', target: SymlinkTarget.fromString('/x') },
    references: [],
    narHash: NixHash.fromDigest('sha256', new Uint8Array(32)),
    narSize: 0,
    signatures: [],
  });
  const accessed: string[] = [];
  app = await buildServer({ store: composeStore(backends), priority: 40, onPathAccess: (digest) => accessed.push(Buffer.from(digest).toString('hex')) });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  expect((await fetch(`${base}/${HASH}.narinfo`)).status).toBe(200);
  expect((await fetch(`${base}/${'1'.repeat(32)}.narinfo`)).status).toBe(404);
  expect(accessed).toEqual([Buffer.from(path.digest).toString('hex')]);
});
