// Signature: one narinfo `Sig:` value, an ed25519 signature tagged with the name of the key that made it.
import { checkNamedBytes, formatNamedBytes, type NamedBytes, type NamedBytesKind, parseNamedBytes } from './named-bytes.js';

const SIGNATURE: NamedBytesKind = { what: 'signature', length: 64, code: 'NB_ERR_NARINFO_MALFORMED' };

export class Signature {
  readonly keyName: string;
  readonly bytes: Uint8Array;

  private constructor({ name, bytes }: NamedBytes) {
    this.keyName = name;
    this.bytes = bytes;
  }

  static parse(text: string): Signature {
    return new Signature(parseNamedBytes(SIGNATURE, text));
  }

  static fromParts(keyName: string, bytes: Uint8Array): Signature {
    return new Signature(checkNamedBytes(SIGNATURE, keyName, bytes));
  }

  toString(): string {
    return formatNamedBytes(this.keyName, this.bytes);
  }
}
