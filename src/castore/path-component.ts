// PathComponent: a validated Directory entry name (the bytes between two slashes).
import { NarBridgeError } from '../errors.js';

/** Longest name accepted, as in tvix and as NAME_MAX on Linux. */
export const MAX_NAME_LENGTH = 255;

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * Why `raw` cannot be a castore path component, or null if it can. The NAR reader checks its entry names
 * alike (nar/reader.ts narEntryNameProblem), but castore knows nothing of Nix formats, so each layer keeps its
 * own rule; this one also caps the length, which the NAR reader leaves to its configurable limit.
 */
function pathComponentProblem(raw: Uint8Array): string | null {
  if (raw.length === 0) return 'empty';
  if (raw.length > MAX_NAME_LENGTH) return 'too long';
  if (raw.length === 1 && raw[0] === DOT) return "'.'";
  if (raw.length === 2 && raw[0] === DOT && raw[1] === DOT) return "'..'";
  if (raw.includes(SLASH)) return 'contains a slash';
  if (raw.includes(0)) return 'contains NUL';
  return null;
}

/** Bytewise order, the order of Directory entries and of NAR directory listings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export class PathComponent {
  private constructor(readonly bytes: Uint8Array) {}

  /** Copies `raw`; 1..255 bytes, not '.' or '..', no '/' or NUL, else NB_ERR_INVALID_NAME. */
  static parse(raw: Uint8Array): PathComponent {
    const why = pathComponentProblem(raw);
    if (why) throw new NarBridgeError('NB_ERR_INVALID_NAME', `invalid entry name: ${why}`);
    return new PathComponent(Uint8Array.from(raw));
  }

  /** The UTF-8 encoding of `name`, validated like parse. */
  static fromString(name: string): PathComponent {
    return PathComponent.parse(Buffer.from(name, 'utf8'));
  }

  static compare(a: PathComponent, b: PathComponent): number {
    return compareBytes(a.bytes, b.bytes);
  }

  /** For display and logs only: names are bytes, and invalid UTF-8 is replaced. */
  toString(): string {
    return Buffer.from(this.bytes).toString('utf8');
  }
}
