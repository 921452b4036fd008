// Streaming NAR serializer: turns a NarEvent sequence from our own renderer into NAR bytes, checking it as it goes.

import { NarBridgeError } from '../errors.js';
import type { NarEvent } from './events.js';
import { OutputChunks } from './output-chunks.js';
import { CLOSE, CONTENTS, DIRECTORY, EMPTY, ENTRY, EXECUTABLE, MAGIC, NAME, NODE, OPEN, REGULAR, SYMLINK, TARGET, TYPE } from './tokens.js';

/**
 * Yields the NAR for `events` in coalesced chunks (see OutputChunks); large content chunks are yielded as they are.
 * Throws NB_ERR_NAR_MALFORMED for a malformed sequence and NB_ERR_HASH_MISMATCH when a file's contents do not add
 * up to its size, which is how a short or corrupt blob surfaces while rendering.
 */
export async function* writeNar(events: AsyncIterable<NarEvent> | Iterable<NarEvent>): AsyncGenerator<Uint8Array, void, undefined> {
  const out = new OutputChunks();
  const tree = new TreeShape();
  out.append(MAGIC.framed);
  for await (const event of events) {
    if (event.type === 'end') {
      tree.leaveDirectory();
      closeNode(out, tree);
      yield* out.takeReady();
      continue;
    }
    const entryName = tree.enterNode(event.name);
    if (entryName !== null) {
      out.append(ENTRY.framed);
      out.append(OPEN.framed);
      out.append(NAME.framed);
      out.string(entryName);
      out.append(NODE.framed);
    }
    out.append(OPEN.framed);
    out.append(TYPE.framed);
    if (event.type === 'directory') {
      out.append(DIRECTORY.framed);
      tree.openDirectory();
    } else if (event.type === 'symlink') {
      out.append(SYMLINK.framed);
      out.append(TARGET.framed);
      out.string(event.target);
      closeNode(out, tree);
    } else {
      out.append(REGULAR.framed);
      if (event.executable) {
        out.append(EXECUTABLE.framed);
        out.append(EMPTY.framed);
      }
      out.append(CONTENTS.framed);
      out.u64(event.size);
      let written = 0;
      for await (const chunk of event.contents) {
        written += chunk.length;
        // Checked before the chunk goes out, so no byte past `size` is ever emitted.
        if (written > event.size) throw contentsMismatch(`at least ${written}`, event.size);
        out.append(chunk);
        yield* out.takeReady();
      }
      if (written !== event.size) throw contentsMismatch(String(written), event.size);
      out.padding(event.size);
      closeNode(out, tree);
    }
    yield* out.takeReady();
  }
  tree.finish();
  out.flush();
  yield* out.takeReady();
}

/** The ")" of a finished node, plus the ")" of the entry holding it unless it is the root. */
function closeNode(out: OutputChunks, tree: TreeShape): void {
  out.append(CLOSE.framed);
  if (tree.depth > 0) out.append(CLOSE.framed);
}

function contentsMismatch(actual: string, expected: number): NarBridgeError {
  return new NarBridgeError('NB_ERR_HASH_MISMATCH', `file contents ${actual} bytes, expected ${expected}`);
}

function malformed(reason: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_NAR_MALFORMED', `invalid NAR event sequence: ${reason}`);
}

/** Where the event sequence is in the tree, and the checks that keep it a single well-formed tree. */
class TreeShape {
  /** Last entry name seen in each open directory, outermost first; null before the first entry. */
  private readonly lastNames: (Uint8Array | null)[] = [];
  private rootStarted = false;

  get depth(): number {
    return this.lastNames.length;
  }

  /** Checks a node may start here; returns its entry name, or null for the root (which has no entry framing). */
  enterNode(name: Uint8Array | null): Uint8Array | null {
    const depth = this.lastNames.length;
    if (depth === 0) {
      if (this.rootStarted) throw malformed('node after the root node');
      if (name !== null) throw malformed('root node has a name');
      this.rootStarted = true;
      return null;
    }
    if (name === null) throw malformed('directory entry without a name');
    const last = this.lastNames[depth - 1] ?? null;
    if (last !== null && Buffer.compare(last, name) >= 0) throw malformed('entry names not strictly ascending');
    this.lastNames[depth - 1] = name;
    return name;
  }

  openDirectory(): void {
    this.lastNames.push(null);
  }

  leaveDirectory(): void {
    if (this.lastNames.pop() === undefined) throw malformed('"end" without an open directory');
  }

  finish(): void {
    if (!this.rootStarted) throw malformed('no root node');
    if (this.depth > 0) throw malformed(`${this.depth} directories left open`);
  }
}
