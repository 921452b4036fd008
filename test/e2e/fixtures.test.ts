// Self-tests of the e2e harness: fixtures are real store paths, keys and formats agree with Nix, server lifecycle.
import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  cleanupE2E,
  disposeFixtures,
  formatNarInfo,
  hashPart,
  hashToBase32,
  makeFixtures,
  makeLargePath,
  makeTempDir,
  nixBase32,
  nixFingerprint,
  nixSign,
  pathInfo,
  runNix,
  runNixTool,
  sha256Base32,
  snapshotTree,
  startServer,
  writePseudoRandomFile,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

// The protocol doc's table (shared/docs/nix-http-protocol.md); content-addressed paths are the same everywhere,
// x and y depend on builtins.currentSystem.
const DOC_PATHS = {
  hello: '/nix/store/z45ailnkm27lnvhimqkhy08f6sh5m17d-hello.txt',
  tree: '/nix/store/779m3di9zfa8v1jnyx2kd168ydc5pgss-tree',
  dep: '/nix/store/x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt',
  deptree: '/nix/store/rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree',
  x: '/nix/store/7r1prhqk1w9qykcclfckkcww64ax9341-x',
  y: '/nix/store/2r4c0iwl695hgsdxkablgafiz6pkkam6-y',
};
const onX8664Linux = process.arch === 'x64' && process.platform === 'linux';

describe('fixtures', () => {
  test('content-addressed fixture paths match the protocol doc', async () => {
    const fx = await makeFixtures();
    expect({ hello: fx.hello, tree: fx.tree, dep: fx.dep, deptree: fx.deptree }).toEqual({
      hello: DOC_PATHS.hello,
      tree: DOC_PATHS.tree,
      dep: DOC_PATHS.dep,
      deptree: DOC_PATHS.deptree,
    });
  });

  test.runIf(onX8664Linux)('input-addressed fixture paths match the protocol doc on x86_64-linux', async () => {
    const fx = await makeFixtures();
    expect({ x: fx.x, y: fx.y }).toEqual({ x: DOC_PATHS.x, y: DOC_PATHS.y });
  });

  test('fixture paths are valid in the local store with the documented metadata', async () => {
    const fx = await makeFixtures();
    await runNixTool('nix-store', ['--verify-path', fx.hello, fx.tree, fx.dep, fx.deptree, fx.x, fx.y], fx.env);

    const hello = await pathInfo(fx.hello, fx.env);
    expect(hello.narSize).toBe(128);
    expect(hello.ca).toMatch(/^fixed:r:sha256:/);
    expect(hello.references).toEqual([]);

    const tree = await pathInfo(fx.tree, fx.env);
    const deptree = await pathInfo(fx.deptree, fx.env);
    expect(tree.narSize).toBe(1240);
    expect(deptree.narHash).toBe(tree.narHash); // one NAR, two paths: the dedup test relies on it

    expect((await pathInfo(fx.dep, fx.env)).ca).toMatch(/^text:sha256:/);

    const x = await pathInfo(fx.x, fx.env);
    expect(x.ca).toBeUndefined();
    expect(x.references).toEqual([fx.dep]);
    expect(x.deriver).toMatch(/-x\.drv$/);

    const y = await pathInfo(fx.y, fx.env);
    expect(y.ca).toBeUndefined();
    expect([...y.references].sort()).toEqual([fx.deptree, fx.dep].sort());
    expect(y.deriver).toMatch(/-y\.drv$/);
  });

  test('tree fixture has an executable, a symlink, nested dirs and an empty file', async () => {
    const fx = await makeFixtures();
    const snap = await snapshotTree(fx.tree);
    expect(snap.map((e) => `${e.type} ${e.path}`)).toEqual([
      'directory ',
      'symlink link',
      'regular run.sh',
      'directory sub',
      'directory sub/deeper',
      'regular sub/deeper/file.txt',
      'regular sub/empty',
    ]);
    expect(snap).toContainEqual({ path: 'link', type: 'symlink', target: 'run.sh' });
    expect(snap).toContainEqual(expect.objectContaining({ path: 'run.sh', executable: true }));
    expect(snap).toContainEqual(expect.objectContaining({ path: 'sub/empty', executable: false, size: 0 }));
  });

  test('keys are a Nix key pair and our signature is the one Nix makes', async () => {
    const fx = await makeFixtures();
    expect(fx.secretKey).toMatch(/^test-1:[A-Za-z0-9+/]{86}==$/);
    expect(fx.publicKey).toMatch(/^test-1:[A-Za-z0-9+/]{43}=$/);

    // Sign x in a throwaway chroot store copy, so the local store stays unsigned.
    const store = fx.env.newStore();
    await runNix(['copy', '--no-check-sigs', '--to', store, fx.x], fx.env);
    await runNix(['store', 'sign', '--store', store, '--key-file', fx.secretKeyFile, fx.x], fx.env);
    const signed = await pathInfo(fx.x, fx.env, store);
    expect(signed.signatures).toEqual([nixSign(fx.secretKey, nixFingerprint(signed))]);
    await runNix(['store', 'verify', '--store', store, '--no-contents', '--option', 'trusted-public-keys', fx.publicKey, fx.x], fx.env);
  });
});

describe('formats', () => {
  test('nixBase32 and hashToBase32 agree with nix hash', async () => {
    const fx = await makeFixtures();
    const dir = await makeTempDir('b32');
    const file = path.join(dir, 'f');
    const bytes = Buffer.from('any bytes at all\n');
    await writeFile(file, bytes);
    const fromNix = (await runNix(['hash', 'file', '--base32', '--type', 'sha256', file], fx.env)).stdout.trim();
    expect(sha256Base32(bytes)).toBe(fromNix);

    const hello = await pathInfo(fx.hello, fx.env);
    const b32 = (await runNix(['hash', 'to-base32', hello.narHash], fx.env)).stdout.trim();
    expect(hashToBase32(hello.narHash)).toBe(b32);
    expect(nixBase32(new Uint8Array(20))).toBe('0'.repeat(32));
  });

  test('formatNarInfo matches the narinfo Nix writes to a file:// cache', async () => {
    const fx = await makeFixtures();
    const cache = await makeTempDir('filecache');
    await runNix(['copy', '--to', `file://${cache}?compression=none`, fx.hello], fx.env);
    const written = await readFile(path.join(cache, `${hashPart(fx.hello)}.narinfo`), 'utf8');
    const info = await pathInfo(fx.hello, fx.env);
    const narHash = `sha256:${hashToBase32(info.narHash)}`;
    const expected = formatNarInfo({
      storePath: fx.hello,
      url: `nar/${hashToBase32(info.narHash)}.nar`,
      compression: 'none',
      fileHash: narHash,
      fileSize: info.narSize,
      narHash,
      narSize: info.narSize,
      references: [],
      ...(info.ca === undefined ? {} : { ca: info.ca }),
    });
    expect(written).toBe(expected);
  });

  test('writePseudoRandomFile is deterministic and incompressible', async () => {
    const dir = await makeTempDir('prng');
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await writePseudoRandomFile(a, 3 * 1024 * 1024 + 5, 'seed');
    await writePseudoRandomFile(b, 3 * 1024 * 1024 + 5, 'seed');
    const [ba, bb] = await Promise.all([readFile(a), readFile(b)]);
    expect(ba.length).toBe(3 * 1024 * 1024 + 5);
    expect(ba.equals(bb)).toBe(true);
    expect(gzipSync(ba).length).toBeGreaterThan(ba.length);
  });

  test('makeLargePath adds a content-addressed path of the requested size', async () => {
    const fx = await makeFixtures();
    const p = await makeLargePath(1);
    expect(p).toMatch(/^\/nix\/store\/[0-9a-z]{32}-large-1MiB\.bin$/);
    const info = await pathInfo(p, fx.env);
    expect(info.ca).toMatch(/^fixed:r:sha256:/);
    expect(info.narSize).toBeGreaterThan(1024 * 1024);
    expect(await makeLargePath(1)).toBe(p);
  });
});

describe('server lifecycle (stand-in scripts)', () => {
  // Scripts that follow the CLI contract just enough to exercise startServer; they do not need the real server.
  const standIn = (onTerm: string) => `
import http from 'node:http';
const i = process.argv.indexOf('--listen');
const [host, port] = process.argv[i + 1].split(':');
const srv = http.createServer((req, res) => res.end(req.url === '/nix-cache-info' ? 'StoreDir: /nix/store\\n' : ''));
srv.listen(Number(port), host, () => console.log(JSON.stringify({ msg: 'listening', port: Number(port) })));
process.on('SIGTERM', () => { ${onTerm} });
`;

  test('startServer waits for /nix-cache-info and stop() sees exit code 0', async () => {
    const dir = await makeTempDir('standin');
    const entry = path.join(dir, 'ok.mjs');
    await writeFile(entry, standIn('srv.close(() => process.exit(0));'));
    const server = await startServer({ dataDir: dir, entry });
    expect((await fetch(`${server.url}/nix-cache-info`)).status).toBe(200);
    expect(server.logRecords()).toContainEqual({ msg: 'listening', port: server.port });
    expect(await server.peakRssBytes()).toBeGreaterThan(1024 * 1024);
    await server.stop();
    expect(server.process.exitCode).toBe(0);
  });

  test('stop() rejects when the server exits non-zero', async () => {
    const dir = await makeTempDir('standin');
    const entry = path.join(dir, 'bad.mjs');
    await writeFile(entry, standIn('process.exit(3);'));
    const server = await startServer({ dataDir: dir, entry });
    await expect(server.stop()).rejects.toThrow(/code 3/);
  });

  test('startServer fails with the captured output when the server exits early', async () => {
    const dir = await makeTempDir('standin');
    const entry = path.join(dir, 'dies.mjs');
    await writeFile(entry, `console.error('config is broken: --data-dir'); process.exit(2);`);
    await expect(startServer({ dataDir: dir, entry })).rejects.toThrow(/code 2[\s\S]*config is broken/);
  });
});
