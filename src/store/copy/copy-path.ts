// Copying one store path from one set of services to another, leaves first: its blobs (each checked against its
// blake3 digest and size as it streams), then its Directories, then — once the NAR rendered from the target has the
// PathInfo's NarHash and NarSize — the PathInfo. A crash at any point leaves objects nothing points at yet, never a
// PathInfo whose objects are missing; a rerun finds what is there and copies the rest.
import type { B3Digest, BlobService, CallOptions, Directory, DirectoryService } from '../../castore/index.js';
import { NarBridgeError, type ErrorCode } from '../../errors.js';
import { NarCalculator } from '../nar/calculator.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from '../pathinfo/service.js';
import { verifyPathInfo } from '../pathinfo/verified.js';

/** The services a store path lives in. */
export interface CopyEnd {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  readonly pathInfos: PathInfoService;
}

/** What copying one path moved (objects the target already had are not counted). */
export interface PathCopied {
  readonly blobs: number;
  readonly blobBytes: number;
  readonly directories: number;
}

/** The error for a problem with this path: `why` after its name; the code is `code`, else the cause's, else damage. */
type Fail = (why: string, cause?: unknown, code?: ErrorCode) => NarBridgeError;

/** Blobs copied at once: a remote target (gRPC, S3) answers each write after a round trip. */
const PARALLEL_BLOBS = 16;

/**
 * Copies `info` with its Directories and blobs from `from` to `to` (skipping objects `to` has), then checks the NAR
 * `to` renders for it and puts the PathInfo. Throws a NarBridgeError naming the path and the object at fault:
 * NB_ERR_HASH_MISMATCH for damage, NB_ERR_MISSING_OBJECT for something the source lacks, else the failing call's.
 */
export async function copyPath(info: PathInfo, from: CopyEnd, to: CopyEnd, opts: CallOptions = {}): Promise<PathCopied> {
  const name = info.storePath.toAbsolute();
  const fail: Fail = (why, cause, code) => {
    // Damage (NB_ERR_HASH_MISMATCH) and absence (NB_ERR_MISSING_OBJECT) are this path's; anything else keeps its code.
    const kept = code ?? (cause === undefined ? 'NB_ERR_HASH_MISMATCH' : NarBridgeError.is(cause) ? cause.code : 'NB_ERR_STORAGE');
    return new NarBridgeError(kept, `${name}: ${why}`, cause === undefined ? {} : { cause });
  };
  const directories: Directory[] = [];
  const files = new Map<string, { digest: B3Digest; size: number }>();
  if (info.node.kind === 'file') files.set(info.node.digest.toHex(), info.node);
  if (info.node.kind === 'directory') {
    try {
      for await (const directory of from.directories.getRecursive(info.node.digest, opts)) {
        directories.push(directory);
        for (const { node } of directory.entries) if (node.kind === 'file') files.set(node.digest.toHex(), node);
      }
    } catch (err) {
      throw fail(`its directories cannot be read from the source (${messageOf(err)})`, err);
    }
  }
  // Laid out together in a target that keeps locality (the pack engine), and committed as one group.
  const locality = {};
  let blobs = 0;
  let blobBytes = 0;
  const queue = [...files.values()];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      if (await to.blobs.has(file.digest, opts)) continue;
      await copyBlob(file, from.blobs, to.blobs, { ...opts, locality }, fail);
      blobs++;
      blobBytes += file.size;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_BLOBS, queue.length) }, worker));
  await to.blobs.flush({ ...opts, locality });
  let copiedDirectories = 0;
  if (info.node.kind === 'directory' && !(await to.directories.get(info.node.digest, opts))) {
    const putter = to.directories.putter(opts);
    for (const directory of directories.reverse()) await putter.put(directory); // breadth-first reversed: leaves first
    await putter.close();
    copiedDirectories = directories.length;
  }
  try {
    await verifyPathInfo(info, new NarCalculator(to), opts);
  } catch (err) {
    throw fail(`the NAR the target renders does not check out (${messageOf(err)})`, err);
  }
  await to.pathInfos.put(info, opts);
  return { blobs, blobBytes, directories: copiedDirectories };
}

/**
 * Streams one blob across; bytes that do not hash to its digest, or are not its size, fail it (what was written is
 * stored under the digest of what it is, which nothing refers to).
 */
async function copyBlob(
  file: { digest: B3Digest; size: number },
  from: BlobService,
  to: BlobService,
  opts: CallOptions & { locality: object },
  fail: Fail,
): Promise<void> {
  const hex = file.digest.toHex();
  const contents = await from.openRead(file.digest, opts);
  if (!contents) throw fail(`blob ${hex} is missing from the source`, undefined, 'NB_ERR_MISSING_OBJECT');
  const writer = to.openWrite(opts);
  let size = 0;
  let stored: B3Digest;
  // What the source cannot read back (a damaged record) is this path's damage; a failing write keeps its code.
  const unreadable: { error: NarBridgeError | null } = { error: null };
  const pieces = (async function* () {
    try {
      yield* contents;
    } catch (err) {
      unreadable.error = fail(`blob ${hex} cannot be read from the source (${messageOf(err)})`, err, 'NB_ERR_HASH_MISMATCH');
      throw unreadable.error;
    }
  })();
  try {
    for await (const piece of pieces) {
      size += piece.byteLength;
      await writer.write(piece);
    }
    stored = await writer.close();
  } catch (err) {
    await writer.abort(err);
    throw err === unreadable.error ? err : fail(`blob ${hex} cannot be copied (${messageOf(err)})`, err);
  }
  if (!stored.equals(file.digest)) throw fail(`blob ${hex} is damaged in the source: its bytes hash to ${stored.toHex()}`);
  if (size !== file.size) throw fail(`blob ${hex} is damaged in the source: ${size} bytes, its file node says ${file.size}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
