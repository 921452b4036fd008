// End-to-end: the real Nix 2.8 client pushes to and substitutes from `nar-bridge serve` (shared/docs/nix-http-protocol.md).
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  NIX_DEFAULT_TIMEOUT_MS,
  cleanupE2E,
  disposeFixtures,
  hashPart,
  handMadeUpload,
  hashToBase32,
  httpRequest,
  inChroot,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  nixEnv,
  nixFingerprint,
  nixSign,
  parseNarInfo,
  pathInfo,
  runNix,
  snapshotTree,
  startRecordingProxy,
  startServer,
  type Fixtures,
  type NixEnv,
  type ServerHandle,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

/** Size of the large-path test. CI keeps the default; run with NB_E2E_LARGE_MB=1024 for the 1 GiB check. */
const LARGE_MB = Number(process.env.NB_E2E_LARGE_MB ?? '64');
if (!Number.isInteger(LARGE_MB) || LARGE_MB < 1) throw new Error(`NB_E2E_LARGE_MB must be a positive integer`);
/** The server streams NARs; a buffered 1 GiB NAR would blow far past this. */
const PEAK_RSS_LIMIT_BYTES = 200 * 1024 * 1024;

async function freshServer(extraArgs: readonly string[] = []): Promise<{ server: ServerHandle; dataDir: string }> {
  const dataDir = await makeTempDir('data');
  return { server: await startServer({ dataDir, extraArgs }), dataDir };
}

interface PushOptions {
  readonly compression?: string;
  /** Secret key file: Nix adds a Sig line computed on the client. */
  readonly secretKeyFile?: string;
  readonly timeoutMs?: number;
}

/** `nix copy --to URL?params PATH`: uploads the closure of PATH. */
async function push(baseUrl: string, storePath: string, env: NixEnv, opts: PushOptions = {}): Promise<void> {
  // Written out by hand: the values are plain temp paths and keywords, and Nix reads them verbatim.
  const params: string[] = [];
  if (opts.compression !== undefined) params.push(`compression=${opts.compression}`);
  if (opts.secretKeyFile !== undefined) params.push(`secret-key=${opts.secretKeyFile}`);
  const query = params.length > 0 ? `?${params.join('&')}` : '';
  await runNix(['copy', '--to', `${baseUrl}${query}`, storePath], env, { timeoutMs: opts.timeoutMs ?? NIX_DEFAULT_TIMEOUT_MS });
}

interface PullOptions {
  readonly trustedKey?: string;
  readonly expect?: 'ok' | 'fail';
  readonly timeoutMs?: number;
}

/** `nix copy --from URL --to <fresh chroot store> PATH` with signatures required; returns the store root. */
async function pull(baseUrl: string, storePath: string, env: NixEnv, opts: PullOptions = {}) {
  const store = env.newStore();
  const trust = opts.trustedKey === undefined ? [] : ['--option', 'trusted-public-keys', opts.trustedKey];
  const result = await runNix(['copy', '--from', baseUrl, '--to', store, ...trust, storePath], env, {
    expect: opts.expect ?? 'ok',
    timeoutMs: opts.timeoutMs ?? NIX_DEFAULT_TIMEOUT_MS,
  });
  return { store, result };
}

/** Every path arrived with the same names, types, executable bits, link targets and bytes as the local original. */
async function expectSameTrees(store: string, storePaths: readonly string[]): Promise<void> {
  for (const p of storePaths) {
    expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
  }
}

function closureOfY(fx: Fixtures): string[] {
  return [fx.y, fx.deptree, fx.dep];
}

async function getNarInfo(baseUrl: string, storePath: string) {
  return httpRequest('GET', `${baseUrl}/${hashPart(storePath)}.narinfo`);
}

/** The narinfo the server serves for storePath, which must exist. */
async function servedNarInfo(baseUrl: string, storePath: string): Promise<Map<string, string[]>> {
  const res = await getNarInfo(baseUrl, storePath);
  expect(res.status, `GET ${hashPart(storePath)}.narinfo: ${res.body}`).toBe(200);
  return parseNarInfo(res.body);
}

/** A request the server must refuse: exactly 400, with a one-line reason. */
function expectRefused(res: { status: number; body: string }): void {
  expect(res.status).toBe(400);
  const reason = res.body.trim();
  expect(reason.length).toBeGreaterThan(0);
  expect(reason).not.toContain('\n');
}

/** The NAR of a path as `nix-store --dump` writes it, plus a hand-made narinfo for it (doc §2.3). */
describe('nix-cache-info and lifecycle', () => {
  test('nix-cache-info advertises /nix/store, mass query and the default priority 40', async () => {
    const { server } = await freshServer();
    const res = await httpRequest('GET', `${server.url}/nix-cache-info`);
    expect(res.status).toBe(200);
    const lines = res.body.split('\n');
    expect(lines).toContain('StoreDir: /nix/store');
    expect(lines).toContain('WantMassQuery: 1');
    expect(lines).toContain('Priority: 40');
    await server.stop();
  });

  test('--priority sets the advertised priority, and SIGINT also exits 0', async () => {
    const { server } = await freshServer(['--priority', '7']);
    const res = await httpRequest('GET', `${server.url}/nix-cache-info`);
    expect(res.body.split('\n')).toContain('Priority: 7');
    await server.stop('SIGINT');
  });
});

describe('push and pull with the real Nix client', () => {
  test('signed closure of y pushed with xz comes back byte-identical with its metadata', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const env = await nixEnv();

    await push(server.url, fx.y, env, { compression: 'xz', secretKeyFile: fx.secretKeyFile });
    const { store } = await pull(server.url, fx.y, env, { trustedKey: fx.publicKey });
    await expectSameTrees(store, closureOfY(fx));

    for (const p of closureOfY(fx)) {
      const local = await pathInfo(p, fx.env);
      const remote = await pathInfo(p, env, server.url);
      expect(remote.path).toBe(p);
      expect(hashToBase32(remote.narHash)).toBe(hashToBase32(local.narHash));
      expect(remote.narSize).toBe(local.narSize);
      expect([...remote.references].sort()).toEqual([...local.references].sort());
      expect(remote.deriver).toBe(local.deriver);
      expect(remote.ca).toBe(local.ca);
      // ed25519 is deterministic: the Sig Nix computed at upload must be carried unchanged.
      expect(remote.signatures).toEqual([nixSign(fx.secretKey, nixFingerprint(local))]);
    }

    // The served narinfo points at the castore renderer, uncompressed (server contract).
    const served = await servedNarInfo(server.url, fx.y);
    expect(served.get('StorePath')).toEqual([fx.y]);
    expect(served.get('URL')?.[0]).toMatch(/^nar\/tvix-castore\//);
    expect(served.get('Compression')).toEqual(['none']);
    // Nix 2.8's NarInfo::to_string asserts a sha256 FileHash: `nix store sign` re-serialises the served narinfo and
    // dies with SIGABRT without one (observed). For an uncompressed NAR the file is the NAR itself.
    expect(served.get('FileHash')?.map(hashToBase32)).toEqual(served.get('NarHash')?.map(hashToBase32));
    expect(served.get('FileSize')).toEqual(served.get('NarSize'));
    expect(served.get('Deriver')).toEqual([path.basename((await pathInfo(fx.y, fx.env)).deriver ?? '')]);
    await server.stop();
  });

  // `compression=` on the store URL only changes what Nix uploads (doc §2.2); gzip even uses a `.nar` URL.
  test.each(['none', 'xz', 'zstd', 'bzip2', 'br', 'gzip'])('upload with compression=%s can be pulled and verified', async (compression) => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const env = await nixEnv();

    await push(server.url, fx.y, env, { compression, secretKeyFile: fx.secretKeyFile });
    const { store } = await pull(server.url, fx.y, env, { trustedKey: fx.publicKey });
    await expectSameTrees(store, closureOfY(fx));
    // Downloads every NAR, checks NarHash/NarSize and the signatures.
    await runNix(['store', 'verify', '--recursive', '--store', server.url, '--option', 'trusted-public-keys', fx.publicKey, fx.y], env);
    const served = await servedNarInfo(server.url, fx.y);
    expect(served.get('Compression')).toEqual(['none']);
    await server.stop();
  });

  // lz4 and lzip are Nix compressions we cannot decode: the refusal must be a clean 400 whose body Nix prints
  // (a 5xx or 202 would make Nix 2.8 retry and hang, nix-http-protocol.md §2.4).
  test.each(['lz4', 'lzip'])('upload with compression=%s fails at once, naming the supported suffixes', async (compression) => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const env = await nixEnv();
    const result = await runNix(['copy', '--to', `${server.url}?compression=${compression}`, fx.hello], env, {
      expect: 'fail',
      timeoutMs: NIX_DEFAULT_TIMEOUT_MS,
    });
    expect(result.stderr).toContain('HTTP error 400');
    expect(result.stderr).toContain(`${compression} compression is not supported (supported: .nar, .nar.xz, .nar.zst, .nar.bz2, .nar.br, .nar.gz)`);
    await server.stop();
  });

  test('an unsigned path is refused under require-sigs until nix store sign adds a signature', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const env = await nixEnv();

    await push(server.url, fx.x, env);
    const refused = await pull(server.url, fx.x, env, { trustedKey: fx.publicKey, expect: 'fail' });
    expect(refused.result.stderr).toContain('lacks a valid signature');

    // Nix re-PUTs the whole narinfo with the extra Sig line (doc §2.3), so the server must accept an overwrite.
    await runNix(['store', 'sign', '--store', server.url, '--key-file', fx.secretKeyFile, fx.x], env);
    const { store } = await pull(server.url, fx.x, env, { trustedKey: fx.publicKey });
    await expectSameTrees(store, [fx.x, fx.dep]);
    const remote = await pathInfo(fx.x, env, server.url);
    expect(remote.signatures).toEqual([nixSign(fx.secretKey, nixFingerprint(await pathInfo(fx.x, fx.env)))]);
    await server.stop();
  });

  test('data pushed before a clean restart can be pulled after it', async () => {
    const fx = await makeFixtures();
    const { server, dataDir } = await freshServer();
    await push(server.url, fx.y, await nixEnv(), { secretKeyFile: fx.secretKeyFile });
    await server.stop();

    const restarted = await startServer({ dataDir, port: server.port });
    const env = await nixEnv();
    const { store } = await pull(restarted.url, fx.y, env, { trustedKey: fx.publicKey });
    await expectSameTrees(store, closureOfY(fx));
    await restarted.stop();
  });

  test('an acknowledged upload survives SIGKILL of the server', async () => {
    const fx = await makeFixtures();
    const { server, dataDir } = await freshServer();
    await push(server.url, fx.y, await nixEnv(), { secretKeyFile: fx.secretKeyFile });
    await server.kill9();

    const restarted = await startServer({ dataDir });
    const { store } = await pull(restarted.url, fx.y, await nixEnv(), { trustedKey: fx.publicKey });
    await expectSameTrees(store, closureOfY(fx));
    await restarted.stop();
  });
});

describe('hand-made uploads', () => {
  test('a NAR uploaded before a restart can be completed by its narinfo after it', async () => {
    const fx = await makeFixtures();
    const { server, dataDir } = await freshServer();
    const { nar, fileHash, narInfo } = await handMadeUpload(fx, fx.hello);
    const narUrl = (base: string) => `${base}/nar/${fileHash}.nar`;

    const put = await httpRequest('PUT', narUrl(server.url), nar, 'application/x-nix-nar');
    expect([200, 201, 204]).toContain(put.status);
    await server.stop();

    const restarted = await startServer({ dataDir });
    expect((await httpRequest('HEAD', narUrl(restarted.url))).status).toBe(200);
    const putInfo = await httpRequest('PUT', `${restarted.url}/${hashPart(fx.hello)}.narinfo`, narInfo, 'text/x-nix-narinfo');
    expect([200, 201, 204]).toContain(putInfo.status);

    // Content-addressed: accepted without any signature.
    const { store } = await pull(restarted.url, fx.hello, await nixEnv());
    await expectSameTrees(store, [fx.hello]);
    await restarted.stop();
  });

  test('a NAR whose body does not match the hash in its URL is refused, and so is a narinfo naming it', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const { nar, fileHash, narInfo } = await handMadeUpload(fx, fx.hello);
    const tampered = Buffer.from(nar);
    const at = tampered.indexOf('hello world');
    expect(at).toBeGreaterThan(0);
    tampered[at] = 'j'.charCodeAt(0); // same length, still a well-formed NAR, different hash

    expectRefused(await httpRequest('PUT', `${server.url}/nar/${fileHash}.nar`, tampered, 'application/x-nix-nar'));
    expect((await httpRequest('HEAD', `${server.url}/nar/${fileHash}.nar`)).status).toBe(404);
    expectRefused(await httpRequest('PUT', `${server.url}/${hashPart(fx.hello)}.narinfo`, narInfo, 'text/x-nix-narinfo'));
    expect((await getNarInfo(server.url, fx.hello)).status).toBe(404);
    await server.stop();
  });

  test('a narinfo naming a NAR that was never uploaded is refused', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const { narInfo } = await handMadeUpload(fx, fx.hello);
    expectRefused(await httpRequest('PUT', `${server.url}/${hashPart(fx.hello)}.narinfo`, narInfo, 'text/x-nix-narinfo'));
    expect((await getNarInfo(server.url, fx.hello)).status).toBe(404);
    await server.stop();
  });

  test('a narinfo whose StorePath does not match the hash in its URL is refused', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const { nar, fileHash, narInfo } = await handMadeUpload(fx, fx.hello);
    const put = await httpRequest('PUT', `${server.url}/nar/${fileHash}.nar`, nar, 'application/x-nix-nar');
    expect([200, 201, 204]).toContain(put.status);

    // hello's narinfo under tree's hash: Nix's path-info would silently report hello for tree (doc §4, §8.11).
    expectRefused(await httpRequest('PUT', `${server.url}/${hashPart(fx.tree)}.narinfo`, narInfo, 'text/x-nix-narinfo'));
    expect((await getNarInfo(server.url, fx.tree)).status).toBe(404);
    expect((await getNarInfo(server.url, fx.hello)).status).toBe(404);
    await server.stop();
  });
});

describe('NAR existence checks', () => {
  test('HEAD answers 200 for an uploaded NAR and 404 for an unknown one', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const { nar, fileHash } = await handMadeUpload(fx, fx.hello);
    const unknown = `${server.url}/nar/${'1'.repeat(52)}.nar`;
    expect((await httpRequest('HEAD', `${server.url}/nar/${fileHash}.nar`)).status).toBe(404);
    expect((await httpRequest('HEAD', unknown)).status).toBe(404);
    expect((await httpRequest('HEAD', `${unknown}.xz`)).status).toBe(404);

    await httpRequest('PUT', `${server.url}/nar/${fileHash}.nar`, nar, 'application/x-nix-nar');
    expect((await httpRequest('HEAD', `${server.url}/nar/${fileHash}.nar`)).status).toBe(200);
    expect((await httpRequest('HEAD', unknown)).status).toBe(404);
    await server.stop();
  });

  test('pushing tree then deptree (the same NAR) uploads the NAR once', async () => {
    const fx = await makeFixtures();
    const { server } = await freshServer();
    const proxy = await startRecordingProxy(server.url);
    const env = await nixEnv();

    await push(proxy.url, fx.tree, env);
    await push(proxy.url, fx.deptree, env);

    const narPuts = proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith('/nar/'));
    expect(narPuts).toHaveLength(1);
    // Nix asked before the second upload and the server said it already has it.
    const narHeads = proxy.requests.filter((r) => r.method === 'HEAD' && r.url.startsWith('/nar/'));
    expect(narHeads.map((r) => r.status)).toEqual([404, 200]);
    expect(narHeads[1]?.url).toBe(narPuts[0]?.url);

    for (const p of [fx.tree, fx.deptree]) {
      expect((await servedNarInfo(server.url, p)).get('StorePath')).toEqual([p]);
    }
    const { store } = await pull(server.url, fx.deptree, env);
    await expectSameTrees(store, [fx.deptree]);
    await proxy.close();
    await server.stop();
  });
});

describe('large paths', () => {
  // Generous per-MiB budget: generation, nix-store --add, an uncompressed upload and a download, on two cores.
  const timeoutMs = 120_000 + LARGE_MB * 600;

  test(
    `a ${LARGE_MB} MiB path round-trips uncompressed while the server stays under 200 MB RSS`,
    async () => {
      const fx = await makeFixtures();
      const large = await makeLargePath(LARGE_MB);
      const { server } = await freshServer();
      const env = await nixEnv();

      await push(server.url, large, env, { compression: 'none', timeoutMs });
      const { store } = await pull(server.url, large, env, { timeoutMs });
      await expectSameTrees(store, [large]);
      expect((await pathInfo(large, env, server.url)).narSize).toBe((await pathInfo(large, fx.env)).narSize);

      const peak = await server.peakRssBytes();
      console.info(`nar-bridge peak RSS (VmHWM) for a ${LARGE_MB} MiB path: ${(peak / 1024 / 1024).toFixed(1)} MiB`);
      expect(peak).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
      await server.stop();
    },
    timeoutMs,
  );
});
