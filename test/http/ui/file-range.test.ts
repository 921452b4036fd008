// Single files in the browser view honour Range like NAR routes: one parser, RFC 9110 semantics.
import type { FastifyInstance } from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { blake3 } from '../../../src/castore/index.js';
import { buildServer } from '../../../src/http/index.js';
import { NixHash, StorePath } from '../../../src/nix/index.js';
import { composeStore } from '../../../src/store/index.js';
import { memoryStore } from '../../store/memory-store.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const CONTENTS = Buffer.from('#!/bin/sh\necho hi\n'); // 18 bytes
const STORE_PATH = StorePath.parseBasename('00bgd045z0d4icpbc2yyz4gx48ak44la-run.sh');

async function served(): Promise<string> {
  const store = memoryStore();
  const writer = store.blobs.openWrite();
  await writer.write(CONTENTS);
  const digest = await writer.close();
  expect(digest.equals(blake3(CONTENTS))).toBe(true);
  await store.pathInfos.put({
    storePath: STORE_PATH,
    node: { kind: 'file', digest, size: CONTENTS.byteLength, executable: true },
    references: [],
    narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
    narSize: 200,
    signatures: [],
  });
  app = await buildServer({ store: composeStore(store), priority: 40 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return `${base}/ui/${STORE_PATH.hashPart}/file/`;
}

it('serves a file whole, a satisfiable range as 206, an invalid range as 200 and an unsatisfiable one as 416', async () => {
  const url = await served();
  const whole = await fetch(url);
  expect(whole.status).toBe(200);
  expect(Buffer.from(await whole.arrayBuffer()).equals(CONTENTS)).toBe(true);

  const part = await fetch(url, { headers: { range: 'bytes=2-5' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe('bytes 2-5/18');
  expect(part.headers.get('content-length')).toBe('4');
  expect(await part.text()).toBe('/bin');

  const tail = await fetch(url, { headers: { range: 'bytes=-3' } });
  expect(tail.status).toBe(206);
  expect(await tail.text()).toBe('hi\n');

  const invalid = await fetch(url, { headers: { range: 'bytes=5-3' } });
  expect(invalid.status).toBe(200);
  expect(Buffer.from(await invalid.arrayBuffer()).equals(CONTENTS)).toBe(true);

  const beyond = await fetch(url, { headers: { range: 'bytes=18-' } });
  expect(beyond.status).toBe(416);
  expect(beyond.headers.get('content-range')).toBe('bytes */18');
});
