// TieredDirectoryService: near in front of far, filled by whole closures (near's putter only accepts a Directory
// whose children it holds), each Directory checked against its digest by far's client and by near's putter.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import type { TierObserver } from '../blob/tiered.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import type { DirectoryPutter, DirectoryService } from './service.js';

export class TieredDirectoryService implements DirectoryService {
  constructor(
    private readonly near: DirectoryService,
    private readonly far: DirectoryService,
    private readonly observer?: TierObserver,
  ) {}

  async get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null> {
    const held = await this.near.get(digest, opts);
    if (held) {
      this.observer?.served('directories', 'near');
      return held;
    }
    return this.#fill(digest, opts);
  }

  async *getRecursive(root: B3Digest, opts?: CallOptions): AsyncGenerator<Directory> {
    if (await this.near.get(root, opts)) this.observer?.served('directories', 'near');
    else if (!(await this.#fill(root, opts))) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `root directory ${root.toHex()} not found`);
    yield* this.near.getRecursive(root, opts);
  }

  putter(opts?: CallOptions): DirectoryPutter {
    return this.near.putter(opts);
  }

  /**
   * Copies the closure of `root` from far into near with one far call, and returns `root`, or null if far lacks
   * it. Directory messages are small (capped at MAX_DIRECTORY_BYTES each), and a closure is held once, while it
   * is copied.
   */
  async #fill(root: B3Digest, opts: CallOptions | undefined): Promise<Directory | null> {
    const closure = new Map<string, Directory>();
    try {
      for await (const directory of this.far.getRecursive(root, opts)) closure.set(directory.digest().toHex(), directory);
    } catch (err) {
      // Missing before anything arrived is the root itself: a miss, not a broken far.
      if (closure.size === 0 && NarBridgeError.is(err) && err.code === 'NB_ERR_MISSING_OBJECT') {
        this.observer?.served('directories', 'none');
        return null;
      }
      throw err;
    }
    this.observer?.served('directories', 'far');
    const putter = this.near.putter(opts);
    for (const directory of childrenFirst(root, closure)) await putter.put(directory);
    await putter.close();
    return closure.get(root.toHex()) ?? null;
  }
}

/**
 * The closure in post-order: each Directory after every Directory it refers to, each once. Far's breadth-first
 * order reversed is not that when one Directory sits at two depths. A child missing from the closure is left to
 * near's putter to reject.
 */
function childrenFirst(root: B3Digest, closure: ReadonlyMap<string, Directory>): Directory[] {
  const order: Directory[] = [];
  const visited = new Set<string>([root.toHex()]);
  // Explicit stack, as trees can be deeper than the call stack is tall: [directory, index of the next entry].
  const first = closure.get(root.toHex());
  const stack: [Directory, number][] = first ? [[first, 0]] : [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [directory, next] = top;
    const entry = directory.entries[next];
    if (!entry) {
      stack.pop();
      order.push(directory);
      continue;
    }
    top[1] = next + 1;
    if (entry.node.kind !== 'directory') continue;
    const hex = entry.node.digest.toHex();
    const child = closure.get(hex);
    if (visited.has(hex) || !child) continue;
    visited.add(hex);
    stack.push([child, 0]);
  }
  return order;
}
