// Streaming NAR parser: turns untrusted bytes into NarEvents, checking grammar, names and limits as it pulls.

import { Cursor, narMalformed } from './cursor.js';
import type { NarEvent } from './events.js';
import {
  CLOSE,
  CONTENTS,
  DIRECTORY,
  EMPTY,
  ENTRY,
  EXECUTABLE,
  LONGEST_TOKEN,
  MAGIC,
  NAME,
  NODE,
  OPEN,
  REGULAR,
  SYMLINK,
  TARGET,
  TYPE,
  decodeLength,
  paddingLength,
  type Token,
} from './tokens.js';

/** Caps on what a hostile NAR can make the reader and its consumer hold; each omitted one takes its default below. */
export interface NarLimits {
  /** Directories open at once, the root included. */
  maxDepth?: number;
  /** Bytes in one entry name. */
  maxNameLength?: number;
  /** Bytes in one symlink target. */
  maxTargetLength?: number;
  maxEntriesPerDirectory?: number;
}

/** The limits readNar applies when one is omitted; upload limits and `serve`'s flags default to these too. */
export const DEFAULT_NAR_LIMITS: Readonly<Required<NarLimits>> = {
  /** Far deeper than real store paths nest, yet it bounds the reader's stack of open directories. */
  maxDepth: 1024,
  /** NAME_MAX on Linux: no filesystem Nix unpacks onto accepts a longer entry name. */
  maxNameLength: 255,
  /** PATH_MAX minus the terminating NUL: symlink(2) rejects longer targets. */
  maxTargetLength: 4095,
  /** Bounds what a consumer building one directory in memory must hold; real directories are far smaller. */
  maxEntriesPerDirectory: 1_000_000,
};

const NODE_TYPES = [REGULAR, SYMLINK, DIRECTORY];
const ENTRY_OR_CLOSE = [ENTRY, CLOSE];
const EXECUTABLE_OR_CONTENTS = [EXECUTABLE, CONTENTS];

const SLASH = 0x2f;
const NUL = 0x00;
const DOT = 0x2e;

/** Parses a NAR, pulling `source` only as fast as events and file contents are consumed. */
export async function* readNar(source: AsyncIterable<Uint8Array>, limits: NarLimits = {}): AsyncGenerator<NarEvent, void, undefined> {
  const cursor = new Cursor(source);
  const parser = new Parser(cursor, {
    maxDepth: limits.maxDepth ?? DEFAULT_NAR_LIMITS.maxDepth,
    maxNameLength: limits.maxNameLength ?? DEFAULT_NAR_LIMITS.maxNameLength,
    maxTargetLength: limits.maxTargetLength ?? DEFAULT_NAR_LIMITS.maxTargetLength,
    maxEntriesPerDirectory: limits.maxEntriesPerDirectory ?? DEFAULT_NAR_LIMITS.maxEntriesPerDirectory,
  });
  try {
    await parser.readMagic();
    // An explicit stack, so hostile nesting hits maxDepth instead of the JS call stack.
    const open: OpenDirectory[] = [];
    // Each turn parses one node (the root first, then one per entry) and closes the directories it finishes.
    for (let name: Uint8Array | null = null; ; ) {
      const kind = await parser.readNodeType();
      if (kind === DIRECTORY) {
        parser.checkDepth(open.length + 1);
        open.push({ lastName: null, entries: 0 });
        yield { type: 'directory', name };
      } else {
        // The node's ")", and the ")" of the entry holding it unless it is the root.
        const closes = open.length > 0 ? 2 : 1;
        if (kind === REGULAR) {
          const { executable, size } = await parser.readFileHeader();
          const contents = new FileContents(cursor, size);
          yield { type: 'file', name, executable, size, contents };
          await parser.readFileEnd(contents.detach(), size, closes);
        } else {
          yield { type: 'symlink', name, target: await parser.readTarget() };
          await parser.readCloses(closes);
        }
      }

      let next: Uint8Array | null = null;
      for (let top = open.at(-1); top !== undefined && next === null; top = open.at(-1)) {
        next = await parser.readEntryName(top);
        if (next === null) {
          open.pop();
          yield { type: 'end' };
          if (open.length > 0) await parser.readCloses(1); // the entry holding that directory
        }
      }
      if (next === null) break;
      name = next;
    }
    if (!(await cursor.atEnd())) throw narMalformed('trailing bytes after the root node', cursor.offset);
  } finally {
    await cursor.close();
  }
}

interface OpenDirectory {
  lastName: Uint8Array | null;
  entries: number;
}

/**
 * The token grammar. Each async method `fill`s exactly the bytes of the tokens it parses next, then parses them
 * synchronously with the private helpers; at the end of the source `take` reports the truncation.
 */
class Parser {
  constructor(
    private readonly cursor: Cursor,
    private readonly limits: Required<NarLimits>,
  ) {}

  async readMagic(): Promise<void> {
    await this.cursor.fillString(LONGEST_TOKEN);
    this.tag([MAGIC]);
  }

  /** "(" "type" <kind>, which opens every node. */
  async readNodeType(): Promise<Token> {
    await this.cursor.fill(OPEN.framed.length + TYPE.framed.length);
    this.tag([OPEN]);
    this.tag([TYPE]);
    await this.cursor.fillString(LONGEST_TOKEN);
    return this.tag(NODE_TYPES);
  }

  checkDepth(depth: number): void {
    if (depth > this.limits.maxDepth) {
      throw narMalformed(`directories nested deeper than ${this.limits.maxDepth}`, this.cursor.offset);
    }
  }

  /**
   * Inside a directory, either "entry" "(" "name" <name> "node", returning the name after checking it against its
   * siblings, or the directory's closing ")", returning null.
   */
  async readEntryName(dir: OpenDirectory): Promise<Uint8Array | null> {
    await this.cursor.fillString(LONGEST_TOKEN);
    if (this.tag(ENTRY_OR_CLOSE) === CLOSE) return null;
    if (dir.entries === this.limits.maxEntriesPerDirectory) {
      throw narMalformed(`more than ${this.limits.maxEntriesPerDirectory} entries in a directory`, this.cursor.offset);
    }
    await this.cursor.fill(OPEN.framed.length + NAME.framed.length);
    this.tag([OPEN]);
    this.tag([NAME]);
    const at = this.cursor.offset;
    const name = await this.readString(this.limits.maxNameLength, 'entry name length');
    const problem = narEntryNameProblem(name);
    if (problem !== null) throw narMalformed(`invalid entry name: ${problem}`, at);
    if (dir.lastName !== null && Buffer.compare(dir.lastName, name) >= 0) {
      throw narMalformed('entry names not strictly ascending', at);
    }
    await this.cursor.fill(NODE.framed.length);
    this.tag([NODE]);
    dir.lastName = name;
    dir.entries += 1;
    return name;
  }

  /** A regular file up to its contents: ["executable" ""] "contents" <size>. */
  async readFileHeader(): Promise<{ executable: boolean; size: number }> {
    await this.cursor.fillString(LONGEST_TOKEN);
    const executable = this.tag(EXECUTABLE_OR_CONTENTS) === EXECUTABLE;
    if (executable) {
      await this.cursor.fill(EMPTY.framed.length + CONTENTS.framed.length);
      this.tag([EMPTY]);
      this.tag([CONTENTS]);
    }
    await this.cursor.fill(8);
    return { executable, size: this.length(Number.MAX_SAFE_INTEGER, 'file size') };
  }

  /** "target" <target> of a symlink. */
  async readTarget(): Promise<Uint8Array> {
    await this.cursor.fill(TARGET.framed.length);
    this.tag([TARGET]);
    const at = this.cursor.offset;
    const target = await this.readString(this.limits.maxTargetLength, 'symlink target length');
    if (target.length === 0) throw narMalformed('empty symlink target', at);
    if (target.includes(NUL)) throw narMalformed('symlink target contains NUL', at);
    return target;
  }

  /** Skips the `unread` rest of a file's contents, then reads their padding and `closes` ")" tokens. */
  async readFileEnd(unread: number, size: number, closes: number): Promise<void> {
    if (unread > 0) await this.cursor.skip(unread);
    await this.cursor.fill(paddingLength(size) + closes * CLOSE.framed.length);
    this.padding(size);
    this.closes(closes);
  }

  async readCloses(count: number): Promise<void> {
    await this.cursor.fill(count * CLOSE.framed.length);
    this.closes(count);
  }

  /** A string's data as our own copy, so it does not pin the source chunk it came in. */
  private async readString(max: number, what: string): Promise<Uint8Array> {
    await this.cursor.fillString(max);
    const length = this.length(max, what);
    // new Uint8Array(view) copies; view.slice() would not if the view were a Node Buffer.
    const data = new Uint8Array(this.cursor.take(length));
    this.padding(length);
    return data;
  }

  /** One literal token among `candidates`; a length no candidate has is rejected before its data is read. */
  private tag(candidates: readonly Token[]): Token {
    const at = this.cursor.offset;
    const length = this.cursor.takeLength();
    // A plain loop: this runs for every token, and tsx wraps each closure it creates in a naming helper.
    for (const candidate of candidates) {
      if (candidate.bytes.length === length && this.cursor.takeIfEqual(candidate.bytes)) {
        this.padding(length);
        return candidate;
      }
    }
    throw narMalformed(`expected ${candidates.map((c) => JSON.stringify(c.text)).join(' or ')}`, at);
  }

  /** A u64 length, rejected before anything is allocated if it exceeds `max`. */
  private length(max: number, what: string): number {
    const at = this.cursor.offset;
    const raw = this.cursor.take(8);
    const length = decodeLength(raw, 0);
    if (length === null || length > max) {
      const value = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true);
      throw narMalformed(`${what} ${value} exceeds ${max}`, at);
    }
    return length;
  }

  private closes(count: number): void {
    for (let i = 0; i < count; i += 1) this.tag([CLOSE]);
  }

  private padding(dataLength: number): void {
    const at = this.cursor.offset;
    if (!this.cursor.takeZeros(paddingLength(dataLength))) throw narMalformed('non-zero padding', at);
  }
}

/**
 * Why `name` cannot be a NAR directory entry name, or null if it can. Its length was already checked against
 * `maxNameLength`. (castore's PathComponent has its own rule: src/nar and src/castore do not import each other.)
 */
function narEntryNameProblem(name: Uint8Array): string | null {
  if (name.length === 0) return 'empty';
  if (name.length === 1 && name[0] === DOT) return '"."';
  if (name.length === 2 && name[0] === DOT && name[1] === DOT) return '".."';
  if (name.includes(SLASH)) return 'contains "/"';
  if (name.includes(NUL)) return 'contains NUL';
  return null;
}

/**
 * A file's contents as views of the source chunks. Valid only until the next event is pulled: then the reader
 * detaches it and skips whatever the consumer left unread.
 */
class FileContents implements AsyncIterable<Uint8Array> {
  private detached = false;

  constructor(
    private readonly cursor: Cursor,
    private remaining: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      // A programming error in the consumer, not bad input, so not a NarBridgeError.
      if (this.detached) throw new Error('NAR file contents read after the next event was pulled');
      if (this.remaining === 0) return;
      const view = await this.cursor.takeUpTo(this.remaining);
      this.remaining -= view.length;
      yield view;
    }
  }

  /** Ends the consumer's access; returns how many bytes it left unread, for the reader to skip. */
  detach(): number {
    this.detached = true;
    const unread = this.remaining;
    this.remaining = 0;
    return unread;
  }
}
