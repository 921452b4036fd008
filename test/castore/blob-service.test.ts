// Runs the BlobService conformance suite on every local backend, plus LocalBlobService's on-disk layout.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { B3Digest, LocalBlobService, MemoryBlobService, blake3 } from '../../src/castore/index.js';
import { describeBlobService, filesUnder, patternBytes, readAll } from './blob-service-suite.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'nar-bridge-blobs-'));
}

const CASTORE = new URL('../../src/castore/index.ts', import.meta.url).href;

/**
 * Another process with a LocalBlobService on `dir` and one write open (a temp file on disk); closing its stdin
 * finishes the write, and it prints the digest.
 */
async function startWriter(dir: string): Promise<{ child: ChildProcessByStdio<Writable, Readable, null>; output: () => string }> {
  const script = `
    import { LocalBlobService } from ${JSON.stringify(CASTORE)};
    const writer = new LocalBlobService(${JSON.stringify(dir)}).openWrite();
    await writer.write(new Uint8Array([1, 2, 3]));
    process.stdout.write('open\\n');
    for await (const _ of process.stdin);
    process.stdout.write((await writer.close()).toHex() + '\\n');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  while (!output.includes('open\n')) await once(child.stdout, 'data');
  return { child, output: () => output.replace('open\n', '') };
}

describeBlobService('memory', async () => ({ service: new MemoryBlobService() }));

describeBlobService('local', async () => {
  const dir = await tempDir();
  return {
    service: new LocalBlobService(dir),
    tempFiles: () => filesUnder(join(dir, 'tmp')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalBlobService layout', () => {
  it('stores blobs at <dir>/<hex[0..2]>/<hex>', async () => {
    const dir = await tempDir();
    try {
      const blobs = new LocalBlobService(dir);
      const data = patternBytes(1000);
      const writer = blobs.openWrite();
      await writer.write(data);
      const hex = (await writer.close()).toHex();
      expect(await readdir(join(dir, hex.slice(0, 2)))).toEqual([hex]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves an open write of another instance on the same dir alone', async () => {
    const dir = await tempDir();
    try {
      const server = new LocalBlobService(dir);
      const writer = server.openWrite();
      await writer.write(patternBytes(1000));
      new LocalBlobService(dir); // what `nar-bridge info` does on a live server's data dir
      await writer.write(patternBytes(1000, 2));
      const digest = await writer.close();
      expect(await readAll(await server.openRead(digest))).toHaveLength(2000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("removes the temp space of a process that is gone, keeps a live one's, and keeps stored blobs", async () => {
    const dir = await tempDir();
    try {
      const first = new LocalBlobService(dir);
      const writer = first.openWrite();
      await writer.write(new Uint8Array([42]));
      const digest = await writer.close();
      const live = await startWriter(dir);
      try {
        const gone = await startWriter(dir);
        gone.child.kill('SIGKILL'); // a crash mid-write
        await once(gone.child, 'close');
        expect(await filesUnder(join(dir, 'tmp'))).toHaveLength(2);
        const second = new LocalBlobService(dir);
        expect(await filesUnder(join(dir, 'tmp'))).toHaveLength(1);
        live.child.stdin.end(); // finishes its write
        const [code] = await once(live.child, 'close');
        expect(code).toBe(0);
        expect(await readAll(await second.openRead(B3Digest.parse(Buffer.from(live.output().trim(), 'hex'))))).toHaveLength(3);
        expect(await readAll(await second.openRead(digest))).toHaveLength(1);
        expect(await second.has(blake3(new Uint8Array([43])))).toBe(false);
      } finally {
        live.child.kill();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removes the temp space of a process whose pid now names another process', async () => {
    const dir = await tempDir();
    try {
      new LocalBlobService(dir);
      const [own] = await readdir(join(dir, 'tmp'));
      // <pid namespace>-<pid>-<start time>-<random>: this pid, but started at another time.
      const [namespace, pid, started, random] = own!.split('-');
      const reused = `${namespace}-${pid}-${Number(started) + 1}-${random}`;
      await mkdir(join(dir, 'tmp', reused));
      await writeFile(join(dir, 'tmp', reused, 'crashed-write'), 'partial');
      await writeFile(join(dir, 'tmp', 'not-ours'), 'kept: no telling whose it is');
      new LocalBlobService(dir);
      const left = await readdir(join(dir, 'tmp'));
      expect(left).toContain(own);
      expect(left).toContain('not-ours');
      expect(left).not.toContain(reused);
      expect(left).toHaveLength(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
