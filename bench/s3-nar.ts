// NAR download speed from the S3 blob backend against a plain GET of one object of the same size from the same S3
// server (issue #15: at least 0.5×), one request at a time (c1), every NAR read going to S3; then the same data dir
// served again with a near cache (--cache-max-size): its first pull (cold) and later ones (warm) against the same
// NAR served by the embedded local engine (issue #15: warm as the local engine).
// Usage: S3_ENDPOINT=… AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… node --import tsx bench/s3-nar.ts [MiB, default 64] [runs, default 5]
// (/work/shared/services/start-s3.sh prints those variables.)
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { testS3Client } from '../test/castore/s3-fixture.js';
import { cleanupE2E, disposeFixtures, hashPart, makeFixtures, makeLargePath, makeTempDir, nixEnv, runNix, startServer } from '../test/e2e/harness.js';

const TARGET = 0.5;

/** GET as Nix sends it (no Accept-Encoding), body drained; returns seconds and bytes. */
function timedGet(url: string): Promise<{ seconds: number; bytes: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let bytes = 0;
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
        res.on('data', (piece: Buffer) => (bytes += piece.byteLength));
        res.on('end', () => resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) throw new Error('S3_ENDPOINT is unset (start S3 with /work/shared/services/start-s3.sh)');
  const mib = Number(process.argv[2] ?? 64);
  const runs = Number(process.argv[3] ?? 5);
  const bucket = `nb-bench-${randomBytes(4).toString('hex')}`;
  const s3 = testS3Client();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  try {
    await makeFixtures();
    const env = await nixEnv();
    const large = await makeLargePath(mib);
    const url = new URL(`s3://${bucket}/store`);
    url.searchParams.set('endpoint', endpoint);
    url.searchParams.set('path-style', 'true');
    const dataDir = await makeTempDir('bench-s3');
    const server = await startServer({ dataDir, extraArgs: ['--log-level', 'warn', '--blob-service-addr', url.href] });
    await runNix(['copy', '--to', `${server.url}?compression=none`, large], env);
    const narinfo = await (await fetch(`${server.url}/${hashPart(large)}.narinfo`)).text();
    const narPath = /^URL: (\S+)$/m.exec(narinfo)?.[1];
    const narSize = Number(/^NarSize: (\d+)$/m.exec(narinfo)?.[1]);
    if (!narPath) throw new Error(`no URL in narinfo:\n${narinfo}`);

    // The plain object: the same number of random bytes, one key, fetched with one GET through the same SDK settings.
    await new Upload({ client: s3, params: { Bucket: bucket, Key: 'plain.bin', Body: randomBytes(narSize) } }).done();
    const plainGet = async () => {
      const start = process.hrtime.bigint();
      const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain.bin' }));
      let bytes = 0;
      for await (const piece of answer.Body as AsyncIterable<Uint8Array>) bytes += piece.byteLength;
      return { seconds: Number(process.hrtime.bigint() - start) / 1e9, bytes };
    };

    const nar: number[] = [];
    const plain: number[] = [];
    for (let run = 0; run < runs; run++) {
      // Alternate which goes first, so drift in machine load does not favour one.
      const order = run % 2 === 0 ? (['nar', 'plain'] as const) : (['plain', 'nar'] as const);
      for (const side of order) {
        const got = side === 'nar' ? await timedGet(`${server.url}/${narPath}`) : await plainGet();
        if (got.bytes !== narSize) throw new Error(`${side}: ${got.bytes} bytes, expected ${narSize}`);
        (side === 'nar' ? nar : plain).push(narSize / got.seconds / 1e6);
      }
    }
    const ratio = median(nar) / median(plain);
    console.log(
      `NAR of ${(narSize / 1e6).toFixed(1)} MB, c1, ${runs} runs (MB/s): from the S3 backend ${nar.map((r) => r.toFixed(0)).join(', ')}; plain S3 GET ${plain.map((r) => r.toFixed(0)).join(', ')}`,
    );
    console.log(`medians: NAR ${median(nar).toFixed(0)} MB/s, plain ${median(plain).toFixed(0)} MB/s, ratio ${ratio.toFixed(2)} (target ≥ ${TARGET})`);
    console.log(`server peak RSS ${((await server.peakRssBytes()) / 2 ** 20).toFixed(0)} MiB`);
    await server.stop();

    // The same store with a near cache in front of S3, and the same path in a store of the embedded engine.
    const cached = await startServer({ dataDir, extraArgs: ['--log-level', 'warn', '--blob-service-addr', url.href, '--cache-max-size', `${mib * 16}M`] });
    const local = await startServer({ dataDir: await makeTempDir('bench-local'), extraArgs: ['--log-level', 'warn'] });
    await runNix(['copy', '--to', `${local.url}?compression=none`, large], env);
    const localNar = /^URL: (\S+)$/m.exec(await (await fetch(`${local.url}/${hashPart(large)}.narinfo`)).text())?.[1];
    const rate = async (base: string, path: string | undefined) => {
      const got = await timedGet(`${base}/${path}`);
      if (got.bytes !== narSize) throw new Error(`${base}: ${got.bytes} bytes, expected ${narSize}`);
      return narSize / got.seconds / 1e6;
    };
    const cold = await rate(cached.url, narPath);
    const warm: number[] = [];
    const engine: number[] = [];
    for (let run = 0; run < runs; run++) {
      warm.push(await rate(cached.url, narPath));
      engine.push(await rate(local.url, localNar));
    }
    console.log(
      `near cache: cold ${cold.toFixed(0)} MB/s (${(cold / median(plain)).toFixed(2)}× plain S3 GET); warm ${warm.map((r) => r.toFixed(0)).join(', ')}; local engine ${engine.map((r) => r.toFixed(0)).join(', ')}`,
    );
    console.log(
      `medians: warm ${median(warm).toFixed(0)} MB/s, local engine ${median(engine).toFixed(0)} MB/s, ratio ${(median(warm) / median(engine)).toFixed(2)} (target ≈ 1)`,
    );
    console.log(
      `peak RSS: near-cached server ${((await cached.peakRssBytes()) / 2 ** 20).toFixed(0)} MiB, local ${((await local.peakRssBytes()) / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    await cleanupE2E();
    await disposeFixtures();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (listed.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
  }
}

await main();
