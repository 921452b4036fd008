// Byte counts of the framing the NAR grammar puts around each kind of node, taken from the literal tokens, so a
// tree's NarSize and every offset in its NAR are arithmetic over these without rendering a byte.
import {
  CLOSE,
  CONTENTS,
  DIRECTORY,
  EMPTY,
  ENTRY,
  EXECUTABLE,
  MAGIC,
  NAME,
  NODE,
  OPEN,
  REGULAR,
  SYMLINK,
  TARGET,
  TYPE,
  narStringLength,
  paddingLength,
  type Token,
} from './tokens.js';

const framed = (...tokens: Token[]): number => tokens.reduce((sum, token) => sum + token.framed.byteLength, 0);
const FILE_HEAD = framed(OPEN, TYPE, REGULAR, CONTENTS) + 8;
const EXECUTABLE_FLAG = framed(EXECUTABLE, EMPTY);
const SYMLINK_FRAME = framed(OPEN, TYPE, SYMLINK, TARGET, CLOSE);
const ENTRY_FRAME = framed(ENTRY, OPEN, NAME, NODE);

export const NAR_FRAMING = {
  /** Before the root node. */
  magic: framed(MAGIC),
  /** From the start of a file node to its first content byte (the u64 length of the contents included). */
  fileHead: (executable: boolean): number => FILE_HEAD + (executable ? EXECUTABLE_FLAG : 0),
  /** After a file's `size` content bytes: their padding and the node's `)`. */
  fileTail: (size: number): number => paddingLength(size) + framed(CLOSE),
  /** A whole symlink node. */
  symlink: (targetLength: number): number => SYMLINK_FRAME + narStringLength(targetLength),
  /** From the start of a directory node to its first `entry`. */
  directoryHead: framed(OPEN, TYPE, DIRECTORY),
  /** From the start of an `entry` to its child node. */
  entryHead: (nameLength: number): number => ENTRY_FRAME + narStringLength(nameLength),
  /** After an entry's child node, and after a directory's last entry: `)`. */
  close: framed(CLOSE),
} as const;
