// Access tokens from a tokens file: one `<scope> <token>` per line, scope `read` or `write` (write implies read).
import { createHash, timingSafeEqual } from 'node:crypto';
import { NarBridgeError } from '../errors.js';

export type Scope = 'read' | 'write';

interface TokenEntry {
  readonly scope: Scope;
  /** sha256 of the token: equal-length values for timingSafeEqual, whatever the token's length. */
  readonly digest: Buffer;
}

/** Shorter tokens are guessable; 16 characters of base64 are 96 bits. */
const MIN_TOKEN_LENGTH = 16;
const LINE = /^(read|write)[ \t]+(\S+)$/;

export class AccessTokens {
  private constructor(private readonly entries: readonly TokenEntry[]) {}

  /** Blank lines and `#` comments are skipped; any other malformed line is a configuration error. */
  static parse(text: string): AccessTokens {
    const entries: TokenEntry[] = [];
    text.split('\n').forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const match = LINE.exec(line);
      const scope = match?.[1];
      const token = match?.[2];
      if ((scope !== 'read' && scope !== 'write') || token === undefined) {
        throw new NarBridgeError('NB_ERR_CONFIG', `tokens file line ${index + 1}: expected "read <token>" or "write <token>"`);
      }
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new NarBridgeError('NB_ERR_CONFIG', `tokens file line ${index + 1}: token shorter than ${MIN_TOKEN_LENGTH} characters`);
      }
      entries.push({ scope, digest: digestOf(token) });
    });
    if (entries.length === 0) throw new NarBridgeError('NB_ERR_CONFIG', 'tokens file holds no tokens');
    return new AccessTokens(entries);
  }

  /** How many tokens grant each scope (for the startup summary; never the tokens). */
  counts(): Readonly<Record<Scope, number>> {
    return { read: this.entries.filter((e) => e.scope === 'read').length, write: this.entries.filter((e) => e.scope === 'write').length };
  }

  /** How many tokens are listed under both scopes: a likely mistake, since the token then grants write. */
  listedAsBoth(): number {
    const writes = new Set(this.entries.filter((e) => e.scope === 'write').map((e) => e.digest.toString('hex')));
    return new Set(this.entries.filter((e) => e.scope === 'read' && writes.has(e.digest.toString('hex'))).map((e) => e.digest.toString('hex'))).size;
  }

  /**
   * The widest scope `presented` grants, or null. Every entry is compared, in constant time, so the
   * answer's timing reveals neither which token matched nor how much of one did.
   */
  scopeOf(presented: string): Scope | null {
    const digest = digestOf(presented);
    let scope: Scope | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest) && scope !== 'write') scope = entry.scope;
    }
    return scope;
  }
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
