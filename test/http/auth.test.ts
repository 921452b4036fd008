// Access control through a real listening server: tokens, scopes, Basic and Bearer, private reads.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { NarBridgeError } from '../../src/errors.js';
import { buildServer } from '../../src/http/index.js';
import { AccessTokens } from '../../src/http/tokens.js';
import { servedMemoryStore } from '../store/memory-store.js';

const WRITE_TOKEN = 'w-0123456789abcdef';
const READ_TOKEN = 'r-0123456789abcdef';
const TOKENS = `# comment\nwrite ${WRITE_TOKEN}\n\nread ${READ_TOKEN}\n`;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(privateReads: boolean): Promise<string> {
  const store = servedMemoryStore();
  app = await buildServer({ store, priority: 40, access: { tokens: AccessTokens.parse(TOKENS), privateReads } });
  return app.listen({ host: '127.0.0.1', port: 0 });
}

const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

/** PUT of nix-cache-info: a write that succeeds (204) once authorised, whatever the store holds. */
async function put(base: string, authorization?: string) {
  const res = await fetch(`${base}/nix-cache-info`, { method: 'PUT', body: 'StoreDir: /nix/store\n', headers: authorization ? { authorization } : {} });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.text() };
}

async function get(base: string, authorization?: string, path = '/nix-cache-info') {
  const res = await fetch(`${base}${path}`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.text() };
}

describe('access control', () => {
  it('refuses a write without credentials: 401 with a Basic challenge and a reason', async () => {
    const base = await serve(false);
    expect(await put(base)).toEqual({ status: 401, challenge: 'Basic realm="nar-bridge"', body: expect.stringMatching(/credentials required/) });
  });

  it('refuses a wrong token, of any length, with 401', async () => {
    const base = await serve(false);
    for (const token of ['x', WRITE_TOKEN.slice(0, -1), `${WRITE_TOKEN}x`]) {
      expect(await put(base, `Bearer ${token}`)).toMatchObject({
        status: 401,
        challenge: 'Basic realm="nar-bridge"',
        body: expect.stringMatching(/invalid token/),
      });
    }
  });

  it('accepts the write token as a Basic password with any user name, and as a Bearer token', async () => {
    const base = await serve(false);
    expect((await put(base, basic('nix', WRITE_TOKEN))).status).toBe(204);
    expect((await put(base, basic('', WRITE_TOKEN))).status).toBe(204);
    expect((await put(base, `Bearer ${WRITE_TOKEN}`)).status).toBe(204);
    expect((await put(base, basic(WRITE_TOKEN, 'wrong'))).status).toBe(401);
  });

  it('refuses a write with a read token: 403', async () => {
    const base = await serve(false);
    expect(await put(base, basic('nix', READ_TOKEN))).toMatchObject({ status: 403, body: 'this token may only read\n' });
  });

  it('serves reads to anyone unless reads are private', async () => {
    const narinfo = '/00bgd045z0d4icpbc2yyz4gx48ak44la.narinfo';
    expect((await get(await serve(false), undefined, narinfo)).status).toBe(404);
    await app?.close();
    const base = await serve(true);
    expect(await get(base, undefined, narinfo)).toMatchObject({ status: 401, challenge: 'Basic realm="nar-bridge"' });
    expect((await get(base, basic('nix', READ_TOKEN), narinfo)).status).toBe(404);
    expect((await get(base, `Bearer ${WRITE_TOKEN}`, narinfo)).status).toBe(404);
  });

  it('keeps nix-cache-info readable with private reads, so Nix does not disable the cache', async () => {
    expect((await get(await serve(true))).status).toBe(200);
  });
});

describe('AccessTokens.parse', () => {
  it.each([
    ['an unknown scope', 'admin 0123456789abcdef0'],
    ['a missing token', 'write'],
    ['a short token', 'write short'],
    ['no tokens at all', '# nothing\n'],
    ['extra fields', 'write 0123456789abcdef0 extra'],
  ])('rejects %s as a configuration error', (_label, text) => {
    expect(() => AccessTokens.parse(text)).toThrow(expect.objectContaining({ code: 'NB_ERR_CONFIG' }) as NarBridgeError);
  });

  it('grants write over read when a token is listed with both scopes', () => {
    const tokens = AccessTokens.parse(`read ${WRITE_TOKEN}\nwrite ${WRITE_TOKEN}\nread ${READ_TOKEN}\n`);
    expect(tokens.scopeOf(WRITE_TOKEN)).toBe('write');
    expect(tokens.scopeOf(READ_TOKEN)).toBe('read');
    expect(tokens.scopeOf('nope')).toBeNull();
  });
});
