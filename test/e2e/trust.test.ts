// End-to-end trust (issue #5): our signing keys, the keys CLI, signed-upload policy and access tokens,
// driven with the real Nix 2.8 client against `nar-bridge serve`.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  REPO_ROOT,
  cleanupE2E,
  disposeFixtures,
  freePort,
  hashPart,
  httpRequest,
  makeFixtures,
  makeTempDir,
  nixEnv,
  parseNarInfo,
  pathInfo,
  runCommand,
  runNix,
  startServer,
  type NixEnv,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');
const WRITE_TOKEN = 'push-0123456789abcdef';
const READ_TOKEN = 'read-0123456789abcdef';

async function cli(args: readonly string[], env: NixEnv, opts: { input?: string } = {}) {
  return runCommand(process.execPath, [CLI, ...args], env.env, opts);
}

/** A secret key made by our CLI, and its public key as Nix derives it. */
async function ourKey(env: NixEnv) {
  const file = path.join(await makeTempDir('key'), 'cache.sec');
  await cli(['keys', 'generate', '--name', 'nar-bridge-test-1', '--out', file], env);
  const publicKey = (await cli(['keys', 'public', file], env)).stdout.trim();
  return { file, publicKey };
}

async function freshServer(extraArgs: readonly string[]) {
  return startServer({ dataDir: await makeTempDir('data'), extraArgs });
}

function copyTo(url: string, storePath: string, env: NixEnv, expect: 'ok' | 'fail' = 'ok', extra: readonly string[] = []) {
  return runNix(['copy', '--to', url, ...extra, storePath], env, { expect });
}

function copyFrom(url: string, storePath: string, env: NixEnv, trustedKey: string, expect: 'ok' | 'fail' = 'ok', extra: readonly string[] = []) {
  return runNix(['copy', '--from', url, '--to', env.newStore(), '--option', 'trusted-public-keys', trustedKey, ...extra, storePath], env, { expect });
}

describe('keys CLI', () => {
  test('keys generate writes a 0600 Nix secret key; keys public agrees with nix key convert-secret-to-public', async () => {
    const env = await nixEnv();
    const { file, publicKey } = await ourKey(env);
    const { stat, readFile } = await import('node:fs/promises');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const secret = await readFile(file, 'utf8');
    expect(secret).toMatch(/^nar-bridge-test-1:[A-Za-z0-9+/]{86}==$/);
    expect((await runNix(['key', 'convert-secret-to-public'], env, { input: secret })).stdout.trim()).toBe(publicKey);
    expect((await cli(['keys', 'public'], env, { input: secret })).stdout.trim()).toBe(publicKey);
  });
});

describe('signing', () => {
  test('served narinfos carry the uploader’s Sig then ours; nix copy --from trusting only our key succeeds', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const key = await ourKey(env);
    const server = await freshServer(['--signing-key-file', key.file]);
    await copyTo(`${server.url}?secret-key=${fx.secretKeyFile}`, fx.y, env);
    const sigs = parseNarInfo((await httpRequest('GET', `${server.url}/${hashPart(fx.y)}.narinfo`)).body).get('Sig') ?? [];
    // Both kept; narinfo Sig lines come out sorted, as Nix writes them.
    expect(sigs.map((s) => s.split(':')[0])).toEqual(['nar-bridge-test-1', 'test-1']);
    await copyFrom(server.url, fx.y, env, key.publicKey);
    // A key we do not hold is not enough: the input-addressed path is refused.
    const other = await ourKey(env);
    await copyFrom(server.url, fx.x, env, other.publicKey, 'fail');
  });
});

describe('a stored path is immutable; only its signatures grow', () => {
  test('nix store sign adds its Sig beside ours; a narinfo with another NarHash for the path is refused 403 and changes nothing', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const key = await ourKey(env);
    const server = await freshServer(['--signing-key-file', key.file]);
    await copyTo(server.url, fx.x, env);
    const narinfoUrl = `${server.url}/${hashPart(fx.x)}.narinfo`;
    const served = (await httpRequest('GET', narinfoUrl)).body;
    expect(
      parseNarInfo(served)
        .get('Sig')
        ?.map((s) => s.split(':')[0]),
    ).toEqual(['nar-bridge-test-1']);

    await runNix(['store', 'sign', '--store', server.url, '--key-file', fx.secretKeyFile, fx.x], env);
    const signed = (await httpRequest('GET', narinfoUrl)).body;
    expect(
      parseNarInfo(signed)
        .get('Sig')
        ?.map((s) => s.split(':')[0]),
    ).toEqual(['nar-bridge-test-1', 'test-1']);
    await copyFrom(server.url, fx.x, env, fx.publicKey);
    await copyFrom(server.url, fx.x, env, key.publicKey);

    const forged = signed.replace(/^NarHash: .*$/m, `NarHash: ${(await pathInfo(fx.hello, fx.env)).narHash}`);
    expect(forged).not.toBe(signed);
    const refused = await httpRequest('PUT', narinfoUrl, forged, 'text/x-nix-narinfo');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/already stored with another NarHash or contents; store paths are immutable\n$/);
    expect((await httpRequest('GET', narinfoUrl)).body).toBe(signed);
  });
});

describe('upload policy', () => {
  test('--require-signed-uploads: unsigned input-addressed push refused with 403 and a reason, nothing visible; CA and signed pushes pass', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const server = await freshServer(['--require-signed-uploads', '--trusted-public-keys', fx.publicKey]);
    const refused = await copyTo(server.url, fx.x, env, 'fail');
    expect(refused.stderr).toMatch(/403/);
    expect(refused.stderr).toMatch(/not signed by a trusted key \(test-1\)/);
    expect((await httpRequest('GET', `${server.url}/${hashPart(fx.x)}.narinfo`)).status).toBe(404);
    // dep is text:sha256 and x's only reference: accepted unsigned because its CA checks out.
    expect((await httpRequest('GET', `${server.url}/${hashPart(fx.dep)}.narinfo`)).status).toBe(200);
    await copyTo(server.url, fx.hello, env);
    await copyTo(`${server.url}?secret-key=${fx.secretKeyFile}`, fx.x, env);
    await copyFrom(server.url, fx.x, env, fx.publicKey);
  });
});

describe('access control', () => {
  async function tokenServer(extra: readonly string[] = []) {
    const dir = await makeTempDir('tokens');
    const tokensFile = path.join(dir, 'tokens');
    await writeFile(tokensFile, `write ${WRITE_TOKEN}\nread ${READ_TOKEN}\n`, { mode: 0o600 }); // 0600, or serve warns
    const netrc = (token: string) => `machine 127.0.0.1 login nix password ${token}\n`;
    await writeFile(path.join(dir, 'write.netrc'), netrc(WRITE_TOKEN));
    await writeFile(path.join(dir, 'read.netrc'), netrc(READ_TOKEN));
    const server = await freshServer(['--tokens-file', tokensFile, ...extra]);
    const netrcOption = (which: 'write' | 'read') => ['--option', 'netrc-file', path.join(dir, `${which}.netrc`)];
    return { server, netrcOption };
  }

  test('a push without a token fails cleanly with 401; with the token in netrc or the URL it succeeds', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const { server, netrcOption } = await tokenServer();
    const refused = await copyTo(server.url, fx.hello, env, 'fail');
    expect(refused.stderr).toMatch(/401/);
    expect((await copyTo(server.url, fx.hello, env, 'fail', netrcOption('read'))).stderr).toMatch(/403/);
    await copyTo(server.url, fx.hello, env, 'ok', netrcOption('write'));
    await copyTo(server.url.replace('http://', `http://nix:${WRITE_TOKEN}@`), fx.tree, env);
    // Reads stay public.
    await copyFrom(server.url, fx.hello, env, fx.publicKey);
  });

  test('--private-reads: substituting needs a read token', async () => {
    const fx = await makeFixtures();
    const env = await nixEnv();
    const { server, netrcOption } = await tokenServer(['--private-reads']);
    await copyTo(server.url, fx.hello, env, 'ok', netrcOption('write'));
    expect((await httpRequest('GET', `${server.url}/${hashPart(fx.hello)}.narinfo`)).status).toBe(401);
    await copyFrom(server.url, fx.hello, env, fx.publicKey, 'fail');
    await copyFrom(server.url, fx.hello, env, fx.publicKey, 'ok', netrcOption('read'));
  });

  test('bound to a non-loopback address without tokens, the server warns loudly; with tokens it does not', async () => {
    // The later --listen wins; the harness polls 127.0.0.1 on the same port, which 0.0.0.0 includes.
    const port = await freePort();
    const open = await startServer({ dataDir: await makeTempDir('data'), port, extraArgs: ['--listen', `0.0.0.0:${port}`] });
    const warning = open.logRecords().find((r) => r.level === 40);
    expect(String(warning?.msg)).toMatch(/NO ACCESS CONTROL/);
    await open.stop();
    const { server } = await tokenServer();
    expect(server.logRecords().some((r) => r.level === 40)).toBe(false);
  });
});
