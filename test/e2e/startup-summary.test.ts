// End-to-end: the first info line of `serve` tells the operator what they started — addresses, store, the public key
// clients must trust, tokens by scope — and the warnings name settings that will not do what was meant.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { cleanupE2E, makeTempDir, REPO_ROOT, runCommand, startServer } from './harness.js';

afterEach(cleanupE2E);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');
const READ_TOKEN = 'read-token-0123456789';
const WRITE_TOKEN = 'write-token-0123456789';

async function signingKey(dir: string): Promise<{ file: string; publicKey: string }> {
  const file = path.join(dir, 'signing.key');
  await runCommand(process.execPath, [CLI, 'keys', 'generate', '--name', 'cache.example.org-1', '--out', file], process.env);
  const publicKey = (await runCommand(process.execPath, [CLI, 'keys', 'public', file], process.env)).stdout.trim();
  return { file, publicKey };
}

test('the listening line sums up addresses, store, signing key, tokens and changed limits, and leaks no token', async () => {
  const dir = await makeTempDir('summary');
  const key = await signingKey(dir);
  const tokens = path.join(dir, 'tokens');
  await writeFile(tokens, `read ${READ_TOKEN}\nwrite ${WRITE_TOKEN}\nwrite ${WRITE_TOKEN}x\n`, { mode: 0o600 });
  const dataDir = path.join(dir, 'data');
  const server = await startServer({
    dataDir,
    extraArgs: ['--signing-key-file', key.file, '--tokens-file', tokens, '--private-reads', '--grpc-listen', '127.0.0.1:0', '--max-nar-size', '1G'],
  });
  await expect.poll(() => server.logRecords().some((r) => r.msg === 'nar-bridge listening')).toBe(true);
  const summary = server.logRecords().find((r) => r.msg === 'nar-bridge listening');
  expect(summary).toMatchObject({
    level: 30,
    url: server.url,
    grpc: expect.stringMatching(/^127\.0\.0\.1:[1-9]\d*$/),
    dataDir,
    store: { blobs: `packs in ${dataDir}/packs`, directories: `sqlite://${dataDir}/meta.sqlite`, pathInfos: `sqlite://${dataDir}/meta.sqlite` },
    signingKeys: [key.publicKey],
    tokens: { read: 1, write: 2 },
    privateReads: true,
    requireSignedUploads: false,
    upstreams: [],
    limits: { 'upload.maxNarSize': 1024 ** 3 },
  });
  expect(key.publicKey).toMatch(/^cache\.example\.org-1:[A-Za-z0-9+/]{43}=$/);
  expect(server.logs()).not.toContain(READ_TOKEN);
  expect(server.logs()).not.toContain(WRITE_TOKEN);
  // Nothing to warn about: a 0600 tokens file, each token under one scope, no signature requirement.
  expect(server.logRecords().filter((r) => r.level === 40)).toEqual([]);
  await server.stop();
});

test('warns about a tokens file others can read, a token under both scopes, and signed uploads nobody can satisfy', async () => {
  const dir = await makeTempDir('warnings');
  const tokens = path.join(dir, 'tokens');
  await writeFile(tokens, `read ${WRITE_TOKEN}\nwrite ${WRITE_TOKEN}\n`);
  await chmod(tokens, 0o644);
  const server = await startServer({ dataDir: path.join(dir, 'data'), extraArgs: ['--tokens-file', tokens, '--require-signed-uploads'] });
  await expect.poll(() => server.logRecords().filter((r) => r.level === 40).length).toBe(3);
  const warnings = server.logRecords().filter((r) => r.level === 40);
  expect(warnings).toEqual([
    expect.objectContaining({ msg: expect.stringContaining('--require-signed-uploads with no --trusted-public-keys and no --signing-key-file') }),
    expect.objectContaining({ tokensFile: tokens, mode: '644', msg: expect.stringContaining('readable by group or others') }),
    expect.objectContaining({ tokensFile: tokens, tokens: 1, msg: expect.stringContaining('both read and write') }),
  ]);
  expect(server.logRecords().find((r) => r.msg === 'nar-bridge listening')).toMatchObject({
    tokens: { read: 1, write: 1 },
    requireSignedUploads: true,
    signingKeys: [],
  });
  await server.stop();
});
