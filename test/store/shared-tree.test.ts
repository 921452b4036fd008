// Renders of one tree in progress share its Directory closure: loaded once, held once, and still each render's own
// to cancel; a failed load is not remembered.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect, it, vi } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { ingestNar, planNar } from '../../src/store/index.js';
import { collectBytes } from '../nar/nar-bytes.js';
import { TESTDATA } from './golden.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await collectBytes(stream));
}

async function ingested() {
  const nar = await readFile(join(TESTDATA, 'complicated.nar'));
  const castore: Castore = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() };
  const { node } = await ingestNar(Readable.from([nar]), castore);
  return { nar, node, castore };
}

it('loads the closure once for renders that start together, and each renders the whole NAR', async () => {
  const { nar, node, castore } = await ingested();
  const loads = vi.spyOn(castore.directories, 'getRecursive');
  const plans = await Promise.all(Array.from({ length: 8 }, () => planNar(node, castore)));
  expect(loads).toHaveBeenCalledTimes(1);
  for (const plan of plans) expect((await collect(plan.stream())).equals(nar)).toBe(true);
  // Held by a plan still in use: a later render finds it too.
  await planNar(node, castore);
  expect(loads).toHaveBeenCalledTimes(1);
  expect(plans).toHaveLength(8);
});

it('keeps one directory service’s trees apart from another’s', async () => {
  const first = await ingested();
  const other: Castore = { blobs: first.castore.blobs, directories: new MemoryDirectoryService() };
  await expect(planNar(first.node, other)).rejects.toMatchObject({ code: 'NB_ERR_MISSING_OBJECT' });
  expect((await planNar(first.node, first.castore)).narSize).toBe(first.nar.length);
});

it('lets a render that is cancelled stop waiting without failing the others', async () => {
  const { nar, node, castore } = await ingested();
  const cancelled = new AbortController();
  const waiting = planNar(node, castore, { signal: cancelled.signal });
  const other = planNar(node, castore);
  cancelled.abort(new Error('client went away'));
  await expect(waiting).rejects.toThrow('client went away');
  expect((await collect((await other).stream())).equals(nar)).toBe(true);
});

it('does not remember a failed load: the next render tries again', async () => {
  const { nar, node, castore } = await ingested();
  const loads = vi.spyOn(castore.directories, 'getRecursive').mockImplementationOnce(async function* () {
    yield* [];
    throw new Error('database went away');
  });
  await expect(Promise.all([planNar(node, castore), planNar(node, castore)])).rejects.toThrow('database went away');
  expect(loads).toHaveBeenCalledTimes(1);
  expect((await collect((await planNar(node, castore)).stream())).equals(nar)).toBe(true);
  expect(loads).toHaveBeenCalledTimes(2);
});
