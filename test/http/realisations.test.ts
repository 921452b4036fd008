// GET|HEAD|PUT /realisations/<id>.doi through a real listening server: what Nix 2.8 uploads is served back.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessTokens, buildServer, DEFAULT_HTTP_LIMITS, type ServerOptions } from '../../src/http/index.js';
import { fingerprintRealisation, generateSigningKey, parseRealisation } from '../../src/nix/index.js';
import { GuardedRealisationService, MemoryRealisationService } from '../../src/store/index.js';
import { servedMemoryStore } from '../store/memory-store.js';

const ID = 'sha256:a37c6d520058b0d7487afb8db07a08b334189d53c013a31d3f9af2b4711b1186!out';
const DEP_ID = 'sha256:06d06a8460ab3a855e2bb5a81b280c035864e89b60dea5ada912cb2300309883!out';
const OUT = 'fgbsahkybspxg0v6qifql54lcz1svryr-catop';
const SIG_A = `cache-a:${Buffer.alloc(64, 1).toString('base64')}`;
const SIG_B = `cache-b:${Buffer.alloc(64, 2).toString('base64')}`;
const WRITE_TOKEN = 'w-0123456789abcdef';

/** As Nix 2.8 uploads it (keys sorted, compact). */
function doi(outPath = OUT, signatures: string[] = [], id = ID): string {
  return `{"dependentRealisations":{"${DEP_ID}":"bgfa357s3pmlckzng8ra4kgiamk66fb8-cadep"},"id":"${id}","outPath":"${outPath}","signatures":${JSON.stringify(signatures)}}`;
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(options: Partial<ServerOptions> = {}): Promise<string> {
  app = await buildServer({ store: servedMemoryStore(), priority: 40, realisations: new MemoryRealisationService(), ...options });
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function put(base: string, body: string, id = ID, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/realisations/${id}.doi`, { method: 'PUT', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, body: await res.text() };
}

async function get(base: string, id = ID, method = 'GET') {
  const res = await fetch(`${base}/realisations/${id}.doi`, { method });
  return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), body: await res.text() };
}

describe('realisation routes', () => {
  it('serve back byte for byte what was uploaded, as JSON', async () => {
    const base = await serve();
    expect(await put(base, doi(OUT, [SIG_A]))).toMatchObject({ status: 204 });
    expect(await get(base)).toMatchObject({ status: 200, type: expect.stringMatching(/^application\/json/), body: doi(OUT, [SIG_A]) });
  });

  it('answer HEAD with the headers of GET and no body', async () => {
    const base = await serve();
    await put(base, doi());
    expect(await get(base, ID, 'HEAD')).toMatchObject({ status: 200, length: String(Buffer.byteLength(doi())), body: '' });
  });

  it('answer 404 for an output without a realisation (Nix then builds it)', async () => {
    const base = await serve();
    expect(await get(base)).toMatchObject({ status: 404 });
  });

  it('accept the id percent-encoded', async () => {
    const base = await serve();
    await put(base, doi());
    expect(await get(base, encodeURIComponent(ID))).toMatchObject({ status: 200, body: doi() });
  });

  it('merge the signatures of a second upload naming the same output path', async () => {
    const base = await serve();
    await put(base, doi(OUT, [SIG_B]));
    expect(await put(base, doi(OUT, [SIG_A]))).toMatchObject({ status: 204 });
    expect((await get(base)).body).toBe(doi(OUT, [SIG_A, SIG_B]));
  });

  it('refuse with 403 a second upload naming another output path, keeping the first', async () => {
    const base = await serve();
    await put(base, doi());
    expect(await put(base, doi('0ggn6d3h2drx6yn0lh6rrw1wdpwm8cpa-catop'))).toEqual({
      status: 403,
      body: expect.stringMatching(/already realised as fgbsahkybspxg0v6qifql54lcz1svryr-catop\n$/),
    });
    expect((await get(base)).body).toBe(doi());
  });

  it.each([
    ['an id other than the URL names', doi(OUT, [], DEP_ID), /does not match/],
    ['malformed JSON', '{"id":', /not valid JSON/],
    ['an outPath that is no store path', doi('not-a-store-path'), /store path/],
    ['a malformed signature', doi(OUT, ['cache-a:AAAA']), /signature/],
  ])('refuse with 400 and a one-line reason %s', async (_why, body, reason) => {
    const base = await serve();
    const answer = await put(base, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(reason);
    expect(answer.body.trimEnd()).not.toContain('\n');
    expect(await get(base)).toMatchObject({ status: 404 });
  });

  it('refuse a URL that names no derivation output with 400', async () => {
    const base = await serve();
    expect(await get(base, 'sha256:1234!out')).toMatchObject({ status: 400 });
    expect(await put(base, doi(), 'md5:x!out')).toMatchObject({ status: 400 });
  });

  it('refuse a document larger than the narinfo limit with 413', async () => {
    const base = await serve({ limits: { ...DEFAULT_HTTP_LIMITS, maxNarInfoBytes: 100 } });
    expect(await put(base, doi())).toMatchObject({ status: 413 });
  });

  it('refuse with 403 an upload not signed by a trusted key when signed uploads are required', async () => {
    const trusted = generateSigningKey('trusted-1');
    const base = await serve({
      realisations: new GuardedRealisationService(new MemoryRealisationService(), { trustedKeys: [trusted.publicKey()], requireSigned: true }),
    });
    expect(await put(base, doi())).toEqual({ status: 403, body: expect.stringMatching(/not signed by a trusted key \(trusted-1\)\n$/) });
    const signature = trusted.sign(fingerprintRealisation(parseRealisation(doi()))).toString();
    expect(await put(base, doi(OUT, [signature]))).toMatchObject({ status: 204 });
    expect((await get(base)).body).toBe(doi(OUT, [signature]));
  });

  it('need a write token to upload, as every PUT does', async () => {
    const base = await serve({ access: { tokens: AccessTokens.parse(`write ${WRITE_TOKEN}\n`), privateReads: false } });
    expect(await put(base, doi())).toMatchObject({ status: 401 });
    expect(await put(base, doi(), ID, { authorization: `Bearer ${WRITE_TOKEN}` })).toMatchObject({ status: 204 });
    expect(await get(base)).toMatchObject({ status: 200 });
  });
});
