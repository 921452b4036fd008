// End-to-end: the rest of the binary-cache surface with real Nix 2.8 and curl — NAR listings, build logs and
// Content-Encoding negotiation.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { cleanupE2E, disposeFixtures, hashPart, makeFixtures, makeTempDir, nixEnv, runCommand, runNix, startServer, type ServerHandle } from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

async function freshServer(): Promise<ServerHandle> {
  return startServer({ dataDir: await makeTempDir('data') });
}

describe('NAR listings', () => {
  test('GET <hash>.ls equals the listing Nix itself writes with write-nar-listing=true', async () => {
    const fx = await makeFixtures();
    const server = await freshServer();
    const fileCache = await makeTempDir('file-cache');
    // y's closure has a directory with nested entries, a symlink, an executable and an empty file (deptree).
    await runNix(['copy', '--to', server.url, fx.y, fx.hello], fx.env);
    await runNix(['copy', '--to', `file://${fileCache}?write-nar-listing=true&compression=none`, fx.y, fx.hello], fx.env);

    const closure = (await runNix(['path-info', '-r', fx.y, fx.hello], fx.env)).stdout.trim().split('\n');
    expect(closure.length).toBeGreaterThanOrEqual(4);
    for (const storePath of closure) {
      const nixListing: unknown = JSON.parse(await readFile(path.join(fileCache, `${hashPart(storePath)}.ls`), 'utf8'));
      const res = await fetch(`${server.url}/${hashPart(storePath)}.ls`);
      expect(res.status, storePath).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json(), storePath).toEqual(nixListing);
    }
  });

  test('an uploaded listing is accepted and ignored, and a push with write-nar-listing=true succeeds', async () => {
    const fx = await makeFixtures();
    const server = await freshServer();
    const bogus = await fetch(`${server.url}/${hashPart(fx.tree)}.ls`, { method: 'PUT', body: '{"version":1,"root":{"type":"symlink","target":"x"}}' });
    expect(bogus.status).toBe(204);
    await runNix(['copy', '--to', `${server.url}?write-nar-listing=true`, fx.tree], fx.env);
    const listing = (await (await fetch(`${server.url}/${hashPart(fx.tree)}.ls`)).json()) as { root: { type: string } };
    expect(listing.root.type).toBe('directory');
    expect((await fetch(`${server.url}/${hashPart(fx.hello)}.ls`)).status).toBe(404);
  });
});

describe('build logs', () => {
  test('nix store copy-log --to uploads a log that nix log --store reads back', async () => {
    const fx = await makeFixtures();
    const server = await freshServer();
    await runNix(['copy', '--to', server.url, fx.y], fx.env);
    await runNix(['store', 'copy-log', '--to', server.url, fx.y], fx.env);

    const reader = await nixEnv();
    const missing = await runNix(['log', '--store', server.url, fx.x], reader, { expect: 'fail' });
    expect(missing.stderr).toContain('not available');
    const { stdout } = await runNix(['log', '--store', server.url, fx.y], reader);
    expect(stdout).toContain('building y');
    expect(stdout).toContain('some stderr');
  });
});

describe('Content-Encoding negotiation', () => {
  async function curl(url: string, ...args: string[]) {
    const env = await nixEnv();
    const { stdout } = await runCommand('curl', ['-sS', '-D', '-', '-o', '/dev/null', ...args, url], env.env);
    return stdout.toLowerCase();
  }

  test('narinfo, listing and log are encoded only when asked, never as identity', async () => {
    const fx = await makeFixtures();
    const server = await freshServer();
    await runNix(['copy', '--to', server.url, fx.y], fx.env);
    await runNix(['store', 'copy-log', '--to', server.url, fx.y], fx.env);
    const drv = (await runNix(['path-info', '--json', fx.y], fx.env)).stdout.match(/"deriver":"\/nix\/store\/([^"]+)"/)?.[1];
    expect(drv).toMatch(/-y\.drv$/);
    const env = await nixEnv();

    for (const resource of [`${hashPart(fx.y)}.narinfo`, `${hashPart(fx.y)}.ls`, `log/${drv}`]) {
      const url = `${server.url}/${resource}`;
      const plain = await curl(url);
      expect(plain, resource).toMatch(/^http\/1.1 200/);
      expect(plain, resource).not.toContain('content-encoding');
      expect(plain, resource).toContain('vary: accept-encoding');
      expect(await curl(url, '-H', 'Accept-Encoding: gzip, br')).toContain('content-encoding: br');
      expect(await curl(url, '-H', 'Accept-Encoding: gzip')).toContain('content-encoding: gzip');
      expect(await curl(url, '-H', 'Accept-Encoding: zstd')).not.toContain('content-encoding');
      expect(await curl(url, '-H', 'Accept-Encoding: br;q=0, gzip;q=0.5')).toContain('content-encoding: gzip');
      // curl --compressed decodes: the same bytes as the unencoded reply.
      const raw = await runCommand('curl', ['-sS', url], env.env);
      for (const coding of ['br', 'gzip']) {
        const decoded = await runCommand('curl', ['-sS', '--compressed', '-H', `Accept-Encoding: ${coding}`, url], env.env);
        expect(decoded.stdoutBytes.equals(raw.stdoutBytes), `${resource} ${coding}`).toBe(true);
      }
      expect(raw.stdoutBytes.byteLength).toBeGreaterThan(0);
    }
  });
});
