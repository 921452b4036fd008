// Service URLs, table-tested: each backend accepts its forms and rejects strays with NB_ERR_CONFIG.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GrpcBlobService,
  GrpcDirectoryService,
  LocalBlobService,
  MemoryBlobService,
  MemoryDirectoryService,
  SqliteDirectoryService,
  blobServiceFromUrl,
  directoryServiceFromUrl,
  memoryScheme,
  serviceFromUrl,
  type BlobService,
  type OpenedService,
} from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { GrpcPathInfoService, MemoryPathInfoService, SqlitePathInfoService, pathInfoServiceFromUrl } from '../../src/store/index.js';
import { BLOB_SCHEMES } from '../../src/castore/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nb-urls-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

type Opener = (raw: string) => Promise<OpenedService<unknown>>;
const OPENERS: Record<'blob' | 'directory' | 'pathinfo', Opener> = {
  blob: (raw) => blobServiceFromUrl(raw),
  directory: (raw) => directoryServiceFromUrl(raw),
  pathinfo: (raw) => pathInfoServiceFromUrl(raw),
};

// [service, url (DIR is replaced by a temp dir), expected class]
const GOOD: ReadonlyArray<readonly [keyof typeof OPENERS, string, abstract new (...args: never[]) => unknown]> = [
  ['blob', 'memory://', MemoryBlobService],
  ['blob', 'local://DIR/blobs', LocalBlobService],
  ['blob', 'grpc+http://127.0.0.1:9001', GrpcBlobService],
  ['blob', 'grpc+https://cache.example.org:443', GrpcBlobService],
  ['blob', 'grpc+unix:///run/tvix/store.sock', GrpcBlobService],
  ['directory', 'memory://', MemoryDirectoryService],
  ['directory', 'sqlite://DIR/dirs.sqlite', SqliteDirectoryService],
  ['directory', 'grpc+http://[::1]:9001', GrpcDirectoryService],
  ['directory', 'grpc+unix:///run/tvix/store.sock', GrpcDirectoryService],
  ['pathinfo', 'memory://', MemoryPathInfoService],
  ['pathinfo', 'sqlite://DIR/pathinfos.sqlite', SqlitePathInfoService],
  ['pathinfo', 'grpc+http://localhost:9001', GrpcPathInfoService],
  ['pathinfo', 'grpc+unix:///run/tvix/store.sock', GrpcPathInfoService],
];

const BAD: ReadonlyArray<readonly [keyof typeof OPENERS, string]> = [
  ['blob', 'not a url'],
  ['blob', 'sqlite:///tmp/x'], // no sqlite blob backend
  ['blob', 'memory://host'],
  ['blob', 'memory:///path'],
  ['blob', 'memory://?x=1'],
  ['blob', 'memory+grpc://'],
  ['blob', 'local://host/dir'],
  ['blob', 'local://'],
  ['blob', 'local:///dir?sync=0'],
  ['blob', 'grpc://127.0.0.1:9001'], // transport missing
  ['blob', 'grpc+tcp://127.0.0.1:9001'],
  ['blob', 'grpc+http://127.0.0.1'], // port missing
  ['blob', 'grpc+http://127.0.0.1:9001/path'],
  ['blob', 'grpc+http://127.0.0.1:9001?wait-connect=1'],
  ['blob', 'grpc+http://user@127.0.0.1:9001'],
  ['blob', 'grpc+unix://host/sock'],
  ['blob', 'grpc+unix://'],
  ['directory', 'local:///tmp/x'], // local is for blobs
  ['directory', 'sqlite://'],
  ['directory', 'sqlite://host/file'],
  ['directory', 'memory://x'],
  ['pathinfo', 'sqlite:///f?mode=ro'],
  ['pathinfo', 'redis://localhost:6379'],
  ['pathinfo', ''],
  ['blob', 'postgresql://127.0.0.1/db'], // PostgreSQL keeps metadata, not blobs
  ['directory', 'postgresql://127.0.0.1/db?unknown=1'],
  ['directory', 'postgres+tls://127.0.0.1/db'],
  ['pathinfo', 'postgresql://u:secret@127.0.0.1/a/b'],
];

describe('service URLs', () => {
  it.each(GOOD)('%s %s opens', async (kind, raw, expected) => {
    const opened = await OPENERS[kind](raw.replace('DIR', dir));
    try {
      expect(opened.service).toBeInstanceOf(expected);
    } finally {
      opened.close();
    }
  });

  it.each(BAD)('%s %s is refused with NB_ERR_CONFIG', async (kind, raw) => {
    const err = await OPENERS[kind](raw).then(
      (opened) => {
        opened.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NarBridgeError);
    expect(NarBridgeError.is(err) && err.code).toBe('NB_ERR_CONFIG');
    expect(String(err)).not.toContain('\n');
    expect(String(err)).not.toContain('secret');
  });

  it('takes the scheme table as a value, so a caller can add schemes', async () => {
    const seen: string[] = [];
    const schemes = new Map([
      ...BLOB_SCHEMES,
      [
        'faulty',
        (url: URL) => {
          seen.push(url.href);
          return memoryScheme<BlobService>(() => new MemoryBlobService())(new URL('memory://'));
        },
      ],
    ]);
    const opened = await serviceFromUrl('faulty+memory://', schemes);
    expect(opened.service).toBeInstanceOf(MemoryBlobService);
    expect(seen).toEqual(['faulty+memory://']);
    expect(await blobServiceFromUrl('faulty+memory://').catch((e: unknown) => e)).toMatchObject({ code: 'NB_ERR_CONFIG' });
  });
});
