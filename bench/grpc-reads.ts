// Per-call CPU of small BlobService Reads over gRPC, client and server each in their own process: N blobs of 1-16 KiB,
// C in flight. `--src DIR` runs the client from another checkout's src (a before/after comparison).
//   npx tsx bench/grpc-reads.ts [--blobs 5000] [--concurrency 128] [--rounds 3] [--src /work/main/src]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startDelayProxy } from './delay-proxy.js';

const { values: args } = parseArgs({
  options: {
    blobs: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '3' },
    src: { type: 'string', default: join(import.meta.dirname, '..', 'src') },
    server: { type: 'boolean', default: false },
    'large-mib': { type: 'string', default: '0' },
    signal: { type: 'boolean', default: false },
    'rtt-ms': { type: 'string', default: '0' },
  },
});
const BLOBS = Number(args.blobs);

const LARGE_BYTES = Number(args['large-mib']) * 1024 * 1024;

function sizeOf(i: number): number {
  if (LARGE_BYTES > 0) return LARGE_BYTES;
  return 1024 + ((i * 7919) % (15 * 1024 + 1));
}

if (args.server) {
  // Serves N deterministic blobs from memory; answers 'cpu' with its CPU time in µs.
  const { MemoryBlobService, MemoryDirectoryService } = await import('../src/castore/index.js');
  const { composeStore, MemoryNarUploadIndex, MemoryPathInfoService } = await import('../src/store/index.js');
  const { startGrpcServer } = await import('../src/grpc/index.js');
  const store = {
    blobs: new MemoryBlobService(),
    directories: new MemoryDirectoryService(),
    pathInfos: new MemoryPathInfoService(),
    narUploads: new MemoryNarUploadIndex(),
  };
  const digests: string[] = [];
  for (let i = 0; i < BLOBS; i++) {
    const writer = store.blobs.openWrite();
    const bytes = Buffer.alloc(sizeOf(i), i % 251);
    for (let at = 0; at + 4 <= bytes.byteLength; at += 4096) bytes.writeUInt32LE(at ^ i, at);
    bytes.writeUInt32LE(i, 0);
    await writer.write(bytes);
    digests.push((await writer.close()).toHex());
  }
  const listener = await startGrpcServer('127.0.0.1:0', { store: composeStore(store, {}), log: { error: () => undefined, debug: () => undefined } });
  process.send?.({ port: listener.port, digests });
  process.on('disconnect', () => process.exit(0)); // exiting, not killed: --cpu-prof then writes its profile
  process.on('message', () => {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  });
} else {
  const child = fork(import.meta.filename, ['--server', '--blobs', String(BLOBS), '--large-mib', String(args['large-mib'])], {
    execArgv: ['--import', 'tsx', ...(process.env.SERVER_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.SERVER_PROF] : [])],
  });
  const [ready] = (await once(child, 'message')) as [{ port: number; digests: string[] }];
  const serverCpu = async () => {
    child.send('cpu');
    const [answer] = (await once(child, 'message')) as [{ cpu: number }];
    return answer.cpu;
  };
  const castore = await import(resolve(args.src ?? '', 'castore/index.ts'));
  const rtt = Number(args['rtt-ms']);
  const proxy = rtt > 0 ? await startDelayProxy({ host: '127.0.0.1', port: ready.port }, rtt) : null;
  const connection = new castore.GrpcConnection(await castore.grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${proxy?.port ?? ready.port}`)));
  const blobs = new castore.GrpcBlobService(connection);
  const digests = ready.digests.map((hex: string) => castore.B3Digest.fromHex(hex));
  for (let round = 0; round < Number(args.rounds); round++) {
    const server0 = await serverCpu();
    const client0 = process.cpuUsage();
    const signal = args.signal ? new AbortController().signal : undefined;
    const started = performance.now();
    let next = 0;
    let bytes = 0;
    await Promise.all(
      Array.from({ length: Number(args.concurrency) }, async () => {
        while (next < digests.length) {
          const i = next++;
          const read = await blobs.openRead(digests[i], { size: sizeOf(i), signal });
          for await (const piece of read) bytes += piece.byteLength;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const client = process.cpuUsage(client0);
    const server = (await serverCpu()) - server0;
    const perCall = (us: number) => (us / digests.length).toFixed(0);
    console.log(
      `${digests.length} Reads in ${seconds.toFixed(2)} s: ${(digests.length / seconds).toFixed(0)} Reads/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s; ` +
        `CPU per Read: client ${perCall(client.user + client.system)} µs, server ${perCall(server)} µs`,
    );
  }
  connection.close();
  await proxy?.close();
  child.disconnect();
}
