// Directory: the sorted, duplicate-free children of one directory, built only through DirectoryBuilder.
import { NarBridgeError } from '../errors.js';
import type { B3Digest } from './digest.js';
import { checkNode, type DirectoryEntry, type Node } from './node.js';
import { PathComponent } from './path-component.js';
import { directoryDigest } from './wire.js';

/** Module-private door for DirectoryBuilder: nothing else can make a Directory. */
let makeDirectory: (entries: readonly DirectoryEntry[], size: number) => Directory;

export class Directory {
  static {
    makeDirectory = (entries, size) => new Directory(Object.freeze(entries), size);
  }

  #digest: B3Digest | undefined;

  /**
   * @param entries sorted strictly ascending (bytewise) by name, hence unique across all kinds
   * @param size entries.length plus the sizes of all child directory nodes
   */
  private constructor(
    readonly entries: readonly DirectoryEntry[],
    readonly size: number,
  ) {}

  /** blake3 over the canonical protobuf encoding; computed once. */
  digest(): B3Digest {
    this.#digest ??= directoryDigest(this);
    return this.#digest;
  }

  static readonly EMPTY: Directory = new Directory(Object.freeze([]), 0);
}

export class DirectoryBuilder {
  readonly #entries: DirectoryEntry[] = [];
  #size = 0;
  #built = false;

  /** Names must arrive strictly ascending (bytewise), else NB_ERR_INVALID_NAME. */
  add(name: PathComponent, node: Node): this {
    if (this.#built) throw new Error('DirectoryBuilder.add after build');
    checkNode(node);
    const last = this.#entries.at(-1);
    if (last) {
      const order = PathComponent.compare(last.name, name);
      if (order === 0) throw new NarBridgeError('NB_ERR_INVALID_NAME', `duplicate entry name ${JSON.stringify(name.toString())}`);
      if (order > 0) throw new NarBridgeError('NB_ERR_INVALID_NAME', `entry ${JSON.stringify(name.toString())} is out of order`);
    }
    const size = this.#size + 1 + (node.kind === 'directory' ? node.size : 0);
    if (!Number.isSafeInteger(size)) throw new NarBridgeError('NB_ERR_TOO_LARGE', 'directory size overflows');
    this.#entries.push({ name, node });
    this.#size = size;
    return this;
  }

  build(): Directory {
    this.#built = true;
    return this.#entries.length === 0 ? Directory.EMPTY : makeDirectory(this.#entries, this.#size);
  }
}
