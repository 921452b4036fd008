// TieredDirectoryService: near in front of far, filled by whole closures (near's putter only accepts a Directory
// whose children it holds), each Directory checked against its digest by far's client and by near's putter.
import type { CallOptions } from '../blob/service.js';
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
    if (!(await this.far.get(digest, opts))) {
      this.observer?.served('directories', 'none');
      return null;
    }
    await this.#fill(digest, opts);
    return this.near.get(digest, opts);
  }

  async *getRecursive(root: B3Digest, opts?: CallOptions): AsyncGenerator<Directory> {
    if (!(await this.near.get(root, opts))) await this.#fill(root, opts);
    else this.observer?.served('directories', 'near');
    yield* this.near.getRecursive(root, opts);
  }

  putter(opts?: CallOptions): DirectoryPutter {
    return this.near.putter(opts);
  }

  /**
   * Copies the closure of `root` from far into near. far yields it root first, breadth first, so reversed it is
   * leaves first, as near's putter needs. Directory messages are small (capped at MAX_DIRECTORY_BYTES each), and a
   * closure is held once, while it is copied.
   */
  async #fill(root: B3Digest, opts: CallOptions | undefined): Promise<void> {
    const closure: Directory[] = [];
    for await (const directory of this.far.getRecursive(root, opts)) closure.push(directory);
    this.observer?.served('directories', 'far');
    const putter = this.near.putter(opts);
    for (const directory of closure.reverse()) await putter.put(directory);
    await putter.close();
  }
}
