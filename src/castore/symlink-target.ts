// SymlinkTarget: a validated symlink target as stored in a SymlinkNode.
import { NarBridgeError } from '../errors.js';

/** PATH_MAX on Linux (4096) less the terminating NUL. */
const MAX_SYMLINK_TARGET_LENGTH = 4095;

export class SymlinkTarget {
  private constructor(readonly bytes: Uint8Array) {}

  /** Copies `raw`; non-empty, at most 4095 bytes, no NUL, else NB_ERR_INVALID_NODE. */
  static parse(raw: Uint8Array): SymlinkTarget {
    const why = raw.length === 0 ? 'empty' : raw.length > MAX_SYMLINK_TARGET_LENGTH ? 'too long' : raw.includes(0) ? 'contains NUL' : null;
    if (why) throw new NarBridgeError('NB_ERR_INVALID_NODE', `invalid symlink target: ${why}`);
    return new SymlinkTarget(Uint8Array.from(raw));
  }

  static fromString(target: string): SymlinkTarget {
    return SymlinkTarget.parse(Buffer.from(target, 'utf8'));
  }

  /** For display and logs only. */
  toString(): string {
    return Buffer.from(this.bytes).toString('utf8');
  }
}
