// Streaming NAR serializer: turns a NarEvent sequence from our own renderer into NAR bytes, checking it as it goes.

import { NarBridgeError } from '../errors.js';
import type { NarOutputEvent } from './events.js';
import { OutputChunks } from './output-chunks.js';
import { CLOSE, CONTENTS, DIRECTORY, EMPTY, ENTRY, EXECUTABLE, MAGIC, NAME, NODE, OPEN, REGULAR, SYMLINK, TARGET, TYPE } from './tokens.js';

/**
 * Yields the NAR for `events` in coalesced chunks (see OutputChunks); large content chunks are yielded as they are.
 * A synchronous `events` (and contents already in memory) is written without an await per event or file.
 * Throws NB_ERR_NAR_MALFORMED for a malformed sequence and NB_ERR_HASH_MISMATCH when a file's contents do not add
 * up to its size, which is how a short or corrupt blob surfaces while rendering.
 */
export async function* writeNar(events: AsyncIterable<NarOutputEvent> | Iterable<NarOutputEvent>): AsyncGenerator<Uint8Array, void, undefined> {
  const out = new OutputChunks();
  const tree = new TreeShape();
  out.append(MAGIC.framed);
  const iterator: AsyncIterator<NarOutputEvent> | Iterator<NarOutputEvent> =
    Symbol.iterator in events ? events[Symbol.iterator]() : events[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const next = iterator.next();
      const step = next instanceof Promise ? await next : next;
      if (step.done) break;
      const event = step.value;
      if (event.type === 'end') {
        tree.leaveDirectory();
        closeNode(out, tree);
      } else {
        writeHead(out, tree, event);
        if (event.type === 'file') {
          const contents = event.contents;
          let written = 0;
          if (Array.isArray(contents)) {
            for (const chunk of contents) written = appendContents(out, chunk, written, event.size);
          } else {
            for await (const chunk of contents as AsyncIterable<Uint8Array>) {
              written = appendContents(out, chunk, written, event.size);
              for (const ready of out.takeReady()) yield ready;
            }
          }
          if (written !== event.size) throw contentsMismatch(String(written), event.size);
          out.padding(event.size);
          closeNode(out, tree);
        }
      }
      for (const ready of out.takeReady()) yield ready;
    }
    done = true;
  } finally {
    if (!done) await iterator.return?.();
  }
  tree.finish();
  out.flush();
  for (const ready of out.takeReady()) yield ready;
}

/** Everything of a node before its contents: entry framing, type, and all of a directory's head or a symlink. */
function writeHead(out: OutputChunks, tree: TreeShape, event: Exclude<NarOutputEvent, { type: 'end' }>): void {
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
  }
}

/** Appends one chunk of a file's contents, `written` bytes of `size` already out; returns the new count. */
function appendContents(out: OutputChunks, chunk: Uint8Array, written: number, size: number): number {
  const total = written + chunk.length;
  // Checked before the chunk goes out, so no byte past `size` is ever emitted.
  if (total > size) throw contentsMismatch(`at least ${total}`, size);
  out.append(chunk);
  return total;
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
