// PATH as export, ls and cat take it: absolute, basename or hash part, then an optional /sub; misses are NB_ERR_NOT_FOUND.
import { readFileSync } from 'node:fs';
import { beforeAll, expect, test } from 'vitest';
import { resolveStorePath } from '../../src/cli/store-path-arg.js';
import { NarBridgeError } from '../../src/errors.js';
import { StorePath } from '../../src/nix/index.js';
import { ingestNar, type Store } from '../../src/store/index.js';
import { memoryStore } from '../store/memory-store.js';
import { join } from 'node:path';
import { TVIX_DIR } from '../fixtures/tvix.js';

// complicated.nar: a directory with .keep (empty file), aa (symlink to /nix/store/somewhereelse) and keep/.keep.
const NAR = readFileSync(join(TVIX_DIR, 'complicated.nar'));
const PATH = StorePath.parseBasename('00bgd045z0d4icpbc2yyz4gx48ak44la-complicated');
const store: Store = memoryStore();

async function* chunks(bytes: Uint8Array) {
  yield bytes;
}

beforeAll(async () => {
  const { node, narHash, narSize } = await ingestNar(chunks(NAR), store);
  await store.pathInfos.put({ storePath: PATH, node, narHash, narSize, references: [], signatures: [] });
});

test.each([
  ['the absolute path', PATH.toAbsolute(), 'directory', ''],
  ['the basename', PATH.basename, 'directory', ''],
  ['the hash part', PATH.hashPart, 'directory', ''],
  ['a trailing slash', `${PATH.hashPart}/`, 'directory', ''],
  ['a file below', `${PATH.toAbsolute()}/keep/.keep`, 'file', 'keep/.keep'],
  ['doubled slashes', `${PATH.basename}//keep//.keep`, 'file', 'keep//.keep'],
  ['a symlink, not followed', `${PATH.hashPart}/aa`, 'symlink', 'aa'],
])('%s', async (_what, arg, kind, sub) => {
  const resolved = await resolveStorePath(store, arg);
  expect([resolved.info.storePath.basename, resolved.node.kind, resolved.sub]).toEqual([PATH.basename, kind, sub]);
});

test.each([
  ['another name after the right hash', `${PATH.hashPart}-simple`, 'no such store path in this store'],
  ['a hash the store lacks', '11bgd045z0d4icpbc2yyz4gx48ak44la', 'no such store path in this store'],
  ['a hash with letters nixbase32 lacks', 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', /nix-base32|invalid|character/],
  ['a short hash', '00bgd045', /32 characters/],
  ['no dash after the hash', `${PATH.hashPart}xcomplicated`, 'not a store path, basename or hash part'],
  ['a missing file', `${PATH.hashPart}/nope`, `no such file in ${PATH.toAbsolute()}`],
  ['a name below a file', `${PATH.hashPart}/.keep/x`, `no such file in ${PATH.toAbsolute()}`],
  ['..', `${PATH.hashPart}/keep/../aa`, /invalid entry name/],
])('%s is NB_ERR_NOT_FOUND naming the argument', async (_what, arg, why) => {
  const error = await resolveStorePath(store, arg).then(
    () => null,
    (err: unknown) => err,
  );
  expect(NarBridgeError.is(error) && error.code).toBe('NB_ERR_NOT_FOUND');
  const message = error instanceof Error ? error.message : '';
  expect(message.startsWith(`${arg}: `)).toBe(true);
  if (typeof why === 'string') expect(message).toBe(`${arg}: ${why}`);
  else expect(message).toMatch(why);
});
