// `nar-bridge verify` (issue 12): a byte flipped in a pack is reported with the store path it breaks, exit 1; serving
// that path fails instead of sending wrong bytes; an intact store verifies clean.
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { B3Digest } from '../../src/castore/index.js';
import { RECORD_HEADER_BYTES } from '../../src/castore/blob/pack/format.js';
import { openLocalStore } from '../../src/cli/open-store.js';
import { verifyCommand } from '../../src/cli/verify.js';
import { StorePath } from '../../src/nix/index.js';
import { ingestNar, planNar } from '../../src/store/index.js';

const TESTDATA = '/work/shared/testdata/tvix';
const HELLO = StorePath.parseBasename('00bgd045z0d4icpbc2yyz4gx48ak44la-hello');
const TREE = StorePath.parseBasename('11bgd045z0d4icpbc2yyz4gx48ak44la-tree');
/** helloworld.nar's one file. */
const HELLO_BLOB = B3Digest.fromHex('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c');

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function* chunks(bytes: Uint8Array) {
  yield bytes;
}

async function storeWithTwoPaths(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nar-bridge-verify-'));
  dirs.push(dataDir);
  const local = await openLocalStore(dataDir);
  for (const [path, file] of [
    [HELLO, 'helloworld.nar'],
    [TREE, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar'],
  ] as const) {
    const { node, narHash, narSize } = await ingestNar(chunks(readFileSync(join(TESTDATA, file))), local.store);
    await local.store.pathInfos.put({ storePath: path, node, narHash, narSize, references: [], signatures: [] });
  }
  local.close();
  return dataDir;
}

async function verify(dataDir: string) {
  let stdout = '';
  let stderr = '';
  const code = await verifyCommand(['--data-dir', dataDir], { env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

test('an intact store verifies clean', async () => {
  const result = await verify(await storeWithTwoPaths());
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/2 store paths .*: 0 damaged objects, 0 broken paths/);
  expect(result.code).toBe(0);
});

test('a flipped byte is reported with the path it breaks, and serving that path fails', async () => {
  const dataDir = await storeWithTwoPaths();
  const local = await openLocalStore(dataDir);
  const place = local.packs?.index.record(HELLO_BLOB);
  local.close();
  if (!place) throw new Error('hello blob not in a pack');
  const [pack] = await readdir(join(dataDir, 'packs'));
  const file = join(dataDir, 'packs', pack ?? '');
  const bytes = await readFile(file);
  const at = place.offset + RECORD_HEADER_BYTES + 3;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
  await writeFile(file, bytes);

  const result = await verify(dataDir);
  expect(result.code).toBe(1);
  expect(result.stdout).toContain(`damaged: blob ${HELLO_BLOB.toHex()}`);
  expect(result.stdout).toContain(`broken: ${HELLO.toAbsolute()}: blob ${HELLO_BLOB.toHex()} is damaged`);
  expect(result.stdout).not.toContain(TREE.toAbsolute());

  const reopened = await openLocalStore(dataDir);
  try {
    const info = await reopened.store.pathInfos.get(HELLO.digest);
    if (!info) throw new Error('hello PathInfo missing');
    const plan = await planNar(info.node, reopened.store);
    const sent: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const chunk of plan.stream()) sent.push(chunk);
      })(),
    ).rejects.toThrow(/damaged/);
    expect(Buffer.concat(sent).includes(Buffer.from('Hello World!'))).toBe(false);
  } finally {
    reopened.close();
  }
});
