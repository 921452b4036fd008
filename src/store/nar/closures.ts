// The trees NAR renders are working from (Directory closure, NarSize, file spans), shared: concurrent downloads of one
// tree load it once and hold one copy. A tree of 20,000 small files decodes to ~15 MB of objects; 16 downloads of it,
// each holding their own, made a 280 MB heap whose garbage collection cost more CPU than the renders themselves (16 at
// a time took 2.5x the CPU per file of one).
import type { CallOptions, Directory, DirectoryService, Node } from '../../castore/index.js';
import { loadDirectoryClosure } from '../../castore/index.js';
import { narFiles, type FileSpan } from './layout.js';

/** What rendering a tree needs besides its blobs: its Directories by hex digest, its NarSize and its files' spans. */
export interface Tree {
  readonly directories: ReadonlyMap<string, Directory>;
  readonly narSize: number;
  readonly files: readonly FileSpan[];
}

/** Per directory service: trees loading (shared until they settle) and loaded ones, kept while a render holds them. */
interface Shared {
  readonly loading: Map<string, Promise<Tree>>;
  readonly loaded: Map<string, WeakRef<Tree>>;
  readonly forget: FinalizationRegistry<string>;
}

const byService = new WeakMap<DirectoryService, Shared>();

/**
 * The tree under `root`, shared with every other render of it in progress (Directories are immutable and
 * content-addressed, so one copy serves them all). A load in progress is not cancelled by one caller's signal: the
 * others wait for it too; each caller stops waiting on its own signal.
 */
export async function sharedTree(root: Node, directories: DirectoryService, opts: CallOptions): Promise<Tree> {
  if (root.kind !== 'directory') return { directories: new Map(), ...narFiles(root, new Map()) };
  const shared = sharedOf(directories);
  const key = root.digest.toHex();
  const held = shared.loaded.get(key)?.deref();
  if (held) return held;
  let loading = shared.loading.get(key);
  if (!loading) {
    // Registered before anything is awaited, so renders starting together all find it.
    loading = loadDirectoryClosure(root, directories).then((closure) => ({ directories: closure, ...narFiles(root, closure) }));
    shared.loading.set(key, loading);
    loading.then(
      (tree) => {
        shared.loaded.set(key, new WeakRef(tree));
        shared.forget.register(tree, key);
      },
      () => undefined, // each caller gets the failure from its own await
    );
    loading.finally(() => shared.loading.delete(key)).catch(() => undefined);
  }
  return withSignal(loading, opts.signal);
}

function sharedOf(directories: DirectoryService): Shared {
  let shared = byService.get(directories);
  if (!shared) {
    const loaded = new Map<string, WeakRef<Tree>>();
    const forget = new FinalizationRegistry<string>((key) => {
      if (loaded.get(key)?.deref() === undefined) loaded.delete(key);
    });
    shared = { loading: new Map(), loaded, forget };
    byService.set(directories, shared);
  }
  return shared;
}

/** `promise`, or the abort of `signal` if that comes first. */
async function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  signal?.throwIfAborted();
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
