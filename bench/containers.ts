// `node --import tsx bench/containers.ts [MiB]`: what serving a pushed NAR back at its upload URL costs, per
// container, next to the plain castore render: one incompressible file of MiB (default 64) in a memory store,
// fetched three times per URL through a real listening server; prints bytes sent and the median time.
import { createHash, randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { buildServer } from '../src/http/index.js';
import { encodeNixBase32 } from '../src/nix/index.js';
import { servedMemoryStore } from '../test/store/memory-store.js';
import { nar as narBytes, str } from '../test/nar/nar-bytes.js';

const MIB = Number(process.argv[2] ?? '64');
const RUNS = 3;
const STORE_PATH_HASH = '00bgd045z0d4icpbc2yyz4gx48ak44la';

function timedGet(url: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let bytes = 0;
    get(url, (res) => {
      res.on('data', (chunk: Buffer) => (bytes += chunk.byteLength));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const nar = narBytes('nix-archive-1', '(', 'type', 'regular', 'contents', str(randomBytes(MIB * 1024 * 1024)), ')');
const app = await buildServer({ store: servedMemoryStore(), priority: 40 });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const hash = encodeNixBase32(createHash('sha256').update(nar).digest());
await fetch(`${base}/nar/${hash}.nar`, { method: 'PUT', body: new Uint8Array(nar) });
const narInfo = `StorePath: /nix/store/${STORE_PATH_HASH}-bench\nURL: nar/${hash}.nar\nCompression: none\nNarHash: sha256:${hash}\nNarSize: ${nar.byteLength}\nReferences: \n`;
await fetch(`${base}/${STORE_PATH_HASH}.narinfo`, { method: 'PUT', body: narInfo });
const castoreUrl = /^URL: (.*)$/m.exec(await (await fetch(`${base}/${STORE_PATH_HASH}.narinfo`)).text())?.[1] ?? '';

const urls: ReadonlyArray<readonly [string, string]> = [
  ['castore render', castoreUrl],
  ['.nar (none)', `nar/${hash}.nar`],
  ['.nar.xz', `nar/${hash}.nar.xz`],
  ['.nar.zst', `nar/${hash}.nar.zst`],
  ['.nar.br', `nar/${hash}.nar.br`],
  ['.nar.gz', `nar/${hash}.nar.gz`],
  ['.nar.bz2', `nar/${hash}.nar.bz2`],
];
console.log(`NAR of ${nar.byteLength} bytes, median of ${RUNS}`);
for (const [name, url] of urls) {
  const runs: Array<{ ms: number; bytes: number }> = [];
  for (let i = 0; i < RUNS; i++) runs.push(await timedGet(`${base}/${url}`));
  runs.sort((a, b) => a.ms - b.ms);
  const median = runs[Math.floor(RUNS / 2)];
  console.log(`${name.padEnd(16)} ${String(median?.bytes).padStart(11)} B ${median?.ms.toFixed(0).padStart(7)} ms`);
}
await app.close();
