// `nar-bridge copy --from STORE --to STORE`: every store path of one store into another (a data dir into PostgreSQL
// and another blob service, say), references before referrers, each path's objects before its PathInfo, every blob
// checked against its digest and every path's NAR, rendered from the target, against its NarHash. Paths the target
// has are skipped, so an interrupted copy is resumed by running it again.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { openDatabase } from '../castore/index.js';
import { copyPath, GcTables, type CopyEnd, type PathInfo } from '../store/index.js';
import { openStore, requireStore } from './configured-store.js';
import { referencesFirst } from './import.js';
import { formatBytes, Progress, type ProgressOutput } from './progress.js';
import { openStoreOverrides } from './service-overrides.js';

export const COPY_USAGE = `usage: nar-bridge copy --from STORE… --to STORE… [--json]

  Copies every store path of one store into another: blobs, then Directories, then the PathInfo, references
  before the paths that name them, so the target never holds a path whose objects or references are missing.
  Each blob is checked against its blake3 digest as it is copied, and each path's NAR, rendered from the target,
  against its NarHash before its PathInfo is written. Paths (and blobs) the target already has are skipped: run it
  again to resume an interrupted copy. Progress goes to stderr; --json prints a summary on stdout. A damaged or
  missing object fails its path (and the paths that refer to it) with a line naming it, the rest is copied, and
  the exit code is 1.

  STORE, repeatable, is what serve's store flags name:
    DIR                  a data dir, as --data-dir (the embedded store; with a URL below, what the URLs leave)
    grpc+http://H:P      all three services of one server (grpc+https://, grpc+unix:// too)
    blobs=URL            as --blob-service-addr
    directories=URL      as --directory-service-addr
    path-infos=URL       as --path-info-service-addr (postgresql://… keeps the upload and build-log indexes too)
  A source data dir may be in use by a server (it is only read); a target data dir may not (copy through the
  server's gRPC address instead).

  e.g. nar-bridge copy --from ~/.local/share/nar-bridge \\
         --to /srv/nb --to directories=postgresql://nb@db/nb --to path-infos=postgresql://nb@db/nb
`;

interface CopyIo {
  readonly env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  readonly stderr: ProgressOutput;
}

/** One side of the copy as given: a data dir and service URLs, each null when not named. */
interface StoreSpec {
  readonly dataDir: string | null;
  readonly blobs: string | null;
  readonly directories: string | null;
  readonly pathInfos: string | null;
}

interface OpenEnd {
  readonly end: CopyEnd;
  close(): void | Promise<void>;
}

const SERVICE_KEYS = { blobs: 'blobs', directories: 'directories', 'path-infos': 'pathInfos' } as const;

export async function copyCommand(args: readonly string[], io: CopyIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: { from: { type: 'string', multiple: true }, to: { type: 'string', multiple: true }, json: { type: 'boolean' } },
  });
  const fromSpec = parseStoreSpec('--from', values.from ?? []);
  const toSpec = parseStoreSpec('--to', values.to ?? []);
  if (JSON.stringify(fromSpec) === JSON.stringify(toSpec)) throw new NarBridgeError('NB_ERR_CONFIG', 'copy: --from and --to name the same store');
  const started = Date.now();
  const from = await openEnd('--from', fromSpec);
  try {
    const to = await openEnd('--to', toSpec);
    try {
      return await copyAll(from.end, to.end, io, values.json ?? false, started);
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

async function copyAll(from: CopyEnd, to: CopyEnd, io: CopyIo, json: boolean, started: number): Promise<number> {
  const listed: PathInfo[] = [];
  for await (const info of from.pathInfos.list()) listed.push(info);
  const ordered = referencesFirst(listed.map((info) => ({ path: info.storePath.toAbsolute(), references: info.references.map((r) => r.toAbsolute()), info })));
  const todo: PathInfo[] = [];
  for (const { info } of ordered) if (!(await to.pathInfos.get(info.storePath.digest))) todo.push(info);
  const present = ordered.length - todo.length;
  const progress = new Progress(
    io.stderr,
    todo.reduce((sum, info) => sum + info.narSize, 0),
    Date.now,
    { total: todo.length, noun: 'paths' },
  );
  progress.note(`copy: ${ordered.length} paths in the source, ${present} already in the target, ${todo.length} to copy`);
  const failed = new Map<string, string>();
  const totals = { paths: 0, narBytes: 0, blobs: 0, blobBytes: 0, directories: 0 };
  try {
    for (const info of todo) {
      const name = info.storePath.toAbsolute();
      const broken = info.references.map((r) => r.toAbsolute()).find((r) => r !== name && failed.has(r));
      try {
        if (broken !== undefined) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `${name}: refers to ${broken}, which was not copied`);
        const copied = await copyPath(info, from, to);
        totals.paths++;
        totals.narBytes += info.narSize;
        totals.blobs += copied.blobs;
        totals.blobBytes += copied.blobBytes;
        totals.directories += copied.directories;
      } catch (err) {
        // A path whose objects are damaged or missing is this path's failure; anything else stops the copy.
        if (!NarBridgeError.is(err) || (err.code !== 'NB_ERR_HASH_MISMATCH' && err.code !== 'NB_ERR_MISSING_OBJECT')) throw err;
        failed.set(name, err.message);
        progress.note(`copy: not copied: ${err.message}`);
      }
      progress.add(info.narSize, 1);
    }
  } finally {
    progress.finish();
  }
  const seconds = (Date.now() - started) / 1000;
  io.stderr.write(
    `copy: ${totals.paths} paths copied (${formatBytes(totals.narBytes)} of NAR; ${totals.blobs} blobs, ${formatBytes(totals.blobBytes)}; ` +
      `${totals.directories} directories) in ${seconds.toFixed(1)} s, ${present} already there, ${failed.size} failed\n`,
  );
  if (json) io.stdout(`${JSON.stringify({ ...totals, present, failed: [...failed.values()], seconds })}\n`);
  return failed.size > 0 ? 1 : 0;
}

/** `--from`/`--to` values → a data dir and service URLs; a bare URL names every service no key=URL names. */
function parseStoreSpec(flag: string, values: readonly string[]): StoreSpec {
  if (values.length === 0) throw new NarBridgeError('NB_ERR_CONFIG', `copy needs ${flag} (nar-bridge copy --help)`);
  const spec: { -readonly [K in keyof StoreSpec]: StoreSpec[K] } = { dataDir: null, blobs: null, directories: null, pathInfos: null };
  const once = <K extends keyof StoreSpec>(key: K, value: string, what: string) => {
    if (spec[key] !== null) throw new NarBridgeError('NB_ERR_CONFIG', `copy: ${flag} names ${what} twice`);
    spec[key] = value;
  };
  const everything: string[] = [];
  for (const value of values) {
    const named = /^(blobs|directories|path-infos)=(.+)$/.exec(value);
    if (named?.[1] && named[2]) once(SERVICE_KEYS[named[1] as keyof typeof SERVICE_KEYS], named[2], named[1]);
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) everything.push(value);
    else once('dataDir', resolve(value), 'a data dir'); // absolute, so the same dir named two ways is one store
  }
  if (everything.length > 1) throw new NarBridgeError('NB_ERR_CONFIG', `copy: ${flag} names more than one URL for all services`);
  const all = everything[0];
  if (all !== undefined) {
    spec.blobs ??= all;
    spec.directories ??= all;
    spec.pathInfos ??= all;
  }
  if (spec.dataDir === null && (spec.blobs === null || spec.directories === null || spec.pathInfos === null)) {
    throw new NarBridgeError('NB_ERR_CONFIG', `copy: ${flag} names no data dir, so it needs blobs=, directories= and path-infos= URLs (or one URL for all)`);
  }
  return spec;
}

/** Opens a side as serve would open that store; a source data dir must hold a store already. */
async function openEnd(flag: string, spec: StoreSpec): Promise<OpenEnd> {
  const settings = {
    dataDir: spec.dataDir ?? '',
    blobServiceAddr: spec.blobs,
    directoryServiceAddr: spec.directories,
    pathInfoServiceAddr: spec.pathInfos,
    grpcClientTokenFile: null,
  };
  if (spec.dataDir !== null) {
    if (flag === '--from') requireStore(spec.dataDir);
    else refuseLiveServer(spec.dataDir);
    const { store, close } = await openStore(settings);
    return { end: store, close };
  }
  // Every service by URL: no data dir to create or open.
  const overrides = await openStoreOverrides(settings);
  const { blobs, directories, pathInfos } = overrides.services;
  if (blobs && directories && pathInfos) return { end: { blobs, directories, pathInfos }, close: overrides.close };
  overrides.close();
  throw new NarBridgeError('NB_ERR_CONFIG', `copy: ${flag} does not name every service`);
}

/**
 * Writing into a data dir a server has open would bypass its write fence: its garbage collector could sweep blobs
 * copied for a PathInfo not yet written. Such a server takes the copy through its own doors instead.
 */
function refuseLiveServer(dataDir: string): void {
  const meta = join(dataDir, 'meta.sqlite');
  if (!existsSync(meta)) return;
  const db = openDatabase(meta);
  try {
    const [pid] = new GcTables(db).liveServers();
    if (pid !== undefined) {
      throw new NarBridgeError(
        'NB_ERR_CONFLICT',
        `a server (pid ${pid}) has this data dir open: stop it, or copy into it through its gRPC address (--to grpc+http://HOST:PORT)`,
      );
    }
  } finally {
    db.close();
  }
}
