// End-to-end: content-addressed derivations with the real Nix 2.8 (experimental ca-derivations). `nix copy` of a
// .drv uploads its outputs' paths, then their realisations; a store holding only the .drv substitutes the outputs
// by reading the realisations first.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  cleanupE2E,
  inChroot,
  makeTempDir,
  nixEnv,
  runCommand,
  runNix,
  runNixTool,
  startRecordingProxy,
  startServer,
  type NixEnv,
  type RecordingProxy,
} from './harness.js';

afterEach(cleanupE2E);

/** Two CA derivations, the second built from the first, so its realisation has a dependent realisation. */
const CA_NIX = `{ nonce }:
let
  ca = name: script: builtins.derivation {
    inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" script ];
    __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256";
  };
  dep = ca "ca-dep" "echo dep \${nonce} > $out";
in ca "ca-top" "echo top \${dep} > $out"
`;

interface CaBuild {
  readonly env: NixEnv;
  /** The derivation as instantiated (its input is the unresolved dep .drv). */
  readonly drv: string;
  readonly out: string;
  /** The key the realisations were signed with at build time. */
  readonly publicKey: string;
}

/** Builds the CA pair with new contents, realisations signed at build time (secret-key-files). */
async function buildCaPair(): Promise<CaBuild> {
  const env = await nixEnv();
  env.env.NIX_CONFIG = `${env.env.NIX_CONFIG ?? ''}\nextra-experimental-features = ca-derivations`;
  const file = path.join(env.root, 'ca.nix');
  await writeFile(file, CA_NIX);
  const keyFile = path.join(env.root, 'secret-key');
  const secretKey = (await runNix(['key', 'generate-secret', '--key-name', 'realisation-test-1'], env)).stdout;
  await writeFile(keyFile, secretKey, { mode: 0o600 });
  const publicKey = (await runNix(['key', 'convert-secret-to-public'], env, { input: secretKey })).stdout.trim();
  const nonce = `${process.pid}-${Date.now()}-${Math.random()}`;
  const drv = (await runCommand('nix-instantiate', [file, '--argstr', 'nonce', nonce], env.env)).stdout.trim();
  const out = (await runNixTool('nix-store', ['--realise', drv, '--option', 'secret-key-files', keyFile], env)).stdout.trim();
  return { env, drv, out, publicKey };
}

/** A server seen through a recording proxy (its records are complete once Nix has its answer, unlike the log). */
async function recordedServer(extraArgs: readonly string[] = []): Promise<RecordingProxy> {
  const server = await startServer({ dataDir: await makeTempDir('data'), extraArgs });
  return startRecordingProxy(server.url);
}

/** Only `nix copy` of the .drv uploads realisations; of the output path it uploads just the paths. */
async function buildAndPush(): Promise<CaBuild & { readonly server: RecordingProxy }> {
  const build = await buildCaPair();
  const server = await recordedServer();
  await runNix(['copy', '--to', server.url, build.drv], build.env);
  return { ...build, server };
}

/** Statuses of the realisation requests with this method, in order. */
function realisationStatuses(server: RecordingProxy, method: string): Array<number | undefined> {
  return server.requests.filter((r) => r.method === method && r.url.startsWith('/realisations/')).map((r) => r.status);
}

describe('realisations', () => {
  test('nix copy uploads both realisations, served back byte for byte as Nix writes them to a file:// cache', async () => {
    const { env, drv, out, server } = await buildAndPush();
    expect(realisationStatuses(server, 'PUT')).toEqual([204, 204]);
    // Nix uploads realisations again on every copy, paths held or not: the same ones are accepted again.
    await runNix(['copy', '--to', server.url, drv], env);
    expect(realisationStatuses(server, 'PUT')).toEqual([204, 204, 204, 204]);

    const fileCache = await makeTempDir('file-cache');
    await runNix(['copy', '--to', `file://${fileCache}`, drv], env);
    const names = await readdir(path.join(fileCache, 'realisations'));
    expect(names).toHaveLength(2);
    const outPaths: string[] = [];
    for (const name of names) {
      const written = await readFile(path.join(fileCache, 'realisations', name), 'utf8');
      const parsed = JSON.parse(written) as { outPath: string; signatures: string[] };
      expect(parsed.signatures, name).toEqual([expect.stringMatching(/^realisation-test-1:/)]);
      outPaths.push(parsed.outPath);
      const res = await fetch(`${server.url}/realisations/${name}`);
      expect(res.status, name).toBe(200);
      expect(await res.text(), name).toBe(written);
    }
    expect(outPaths).toContain(path.basename(out));
  });

  test('a store holding only the .drv substitutes both CA outputs through their realisations, building nothing', async () => {
    const { env, drv, out, server } = await buildAndPush();
    const store = env.newStore();
    await runNix(['copy', '--to', store, '--derivation', drv], env);
    const built = await runNix(['build', '--store', store, '--substituters', server.url, '--no-link', '--json', drv], env);
    expect((JSON.parse(built.stdout) as Array<{ outputs: { out: string } }>)[0]?.outputs.out).toBe(out);
    expect(built.stderr).not.toMatch(/building '/);
    expect(await readFile(inChroot(store, out), 'utf8')).toMatch(/^top \/nix\/store\/\w{32}-ca-dep\n$/);
    // The top output's realisation, then its dependency's (named in dependentRealisations).
    expect(realisationStatuses(server, 'GET')).toEqual([200, 200]);
  });

  test('--require-signed-uploads: realisations signed by a trusted key pass, others are refused with 403 and a reason', async () => {
    const { env, drv, publicKey } = await buildCaPair();
    const trusting = await recordedServer(['--require-signed-uploads', '--trusted-public-keys', publicKey]);
    await runNix(['copy', '--to', trusting.url, drv], env);
    expect(realisationStatuses(trusting, 'PUT')).toEqual([204, 204]);

    const other = (
      await runNix(['key', 'convert-secret-to-public'], env, { input: (await runNix(['key', 'generate-secret', '--key-name', 'other-1'], env)).stdout })
    ).stdout.trim();
    const strict = await recordedServer(['--require-signed-uploads', '--trusted-public-keys', other]);
    const refused = await runNix(['copy', '--to', strict.url, drv], env, { expect: 'fail' });
    expect(refused.stderr).toMatch(/HTTP error 403/);
    expect(refused.stderr).toMatch(/realisation sha256:[0-9a-f]{64}!out is not signed by a trusted key \(other-1\)/);
    const put = strict.requests.find((r) => r.method === 'PUT' && r.url.startsWith('/realisations/'));
    expect(put?.status).toBe(403);
    // The CA paths themselves pass on their content address; the refused realisation is not stored.
    expect((await fetch(`${strict.url}${String(put?.url)}`)).status).toBe(404);
  });
});
