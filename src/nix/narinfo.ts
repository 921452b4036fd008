// The narinfo text format: parses what Nix 2.8 reads (strictly, see nix-http-protocol.md §4) and writes
// exactly the bytes Nix writes (§2.3; checked against 978 narinfos from cache.nixos.org).
import { type ContentAddress, formatContentAddress, parseContentAddress } from './content-address.js';
import { NixHash } from './hash.js';
import { malformed, withErrorCode } from './parse-errors.js';
import { Signature } from './signature.js';
import { StorePath, sortStorePaths } from './store-path.js';

export interface NarInfo {
  storePath: StorePath;
  /** Joined to the cache URL by plain concatenation unless absolute (nix-http-protocol.md §1). */
  url: string;
  compression?: string;
  /** Hash and size in bytes of the file at `url` (compressed); Nix never checks them. */
  fileHash?: NixHash;
  fileSize?: number;
  narHash: NixHash;
  /** Bytes; always positive. */
  narSize: number;
  /** As written in the narinfo (Nix writes them sorted); formatting sorts them. */
  references: StorePath[];
  deriver?: StorePath;
  /** Only old cache.nixos.org narinfos have it; Nix ignores it. */
  system?: string;
  sigs: Signature[];
  ca?: ContentAddress;
}

/** The Deriver value that means "no deriver". */
const UNKNOWN_DERIVER = 'unknown-deriver';
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

export function parseNarInfo(text: string): NarInfo {
  const fields = new Map<string, string>();
  const sigs: Signature[] = [];
  for (const [key, value] of splitFields(text)) {
    if (key === 'Sig') sigs.push(field('Sig', value, Signature.parse));
    else fields.set(key, value); // a repeated key: the last one wins, as in Nix
  }
  const optional = <T>(key: string, parse: (value: string) => T): T | undefined => {
    const value = fields.get(key);
    return value === undefined ? undefined : field(key, value, parse);
  };
  const required = <T>(key: string, parse: (value: string) => T): T => {
    const value = fields.get(key);
    if (value === undefined) throw malformed(`missing ${key}`);
    return field(key, value, parse);
  };

  return {
    storePath: required('StorePath', (v) => StorePath.parseAbsolute(v)),
    url: required('URL', (v) => singleLine('URL', v)),
    compression: optional('Compression', (v) => singleLine('Compression', v)),
    fileHash: optional('FileHash', NixHash.parse),
    fileSize: optional('FileSize', parseSize),
    narHash: required('NarHash', NixHash.parse),
    narSize: required('NarSize', parsePositiveSize),
    references: optional('References', parseReferences) ?? [],
    deriver: optional('Deriver', (v) => (v === UNKNOWN_DERIVER ? undefined : StorePath.parseBasename(v))),
    system: optional('System', (v) => singleLine('System', v)),
    sigs,
    ca: optional('CA', parseContentAddress),
  };
}

/**
 * Nix's field order. System sits between Deriver and Sig, as in the old cache.nixos.org narinfos
 * (Nix itself never writes it). References and Sig lines come out sorted, because Nix keeps both
 * in ordered sets.
 */
export function formatNarInfo(info: NarInfo): string {
  const lines = [`StorePath: ${info.storePath.toAbsolute()}`, `URL: ${singleLine('URL', info.url)}`];
  if (info.compression !== undefined) lines.push(`Compression: ${singleLine('Compression', info.compression)}`);
  if (info.fileHash !== undefined) lines.push(`FileHash: ${info.fileHash.toString()}`);
  if (info.fileSize !== undefined) lines.push(`FileSize: ${info.fileSize}`);
  lines.push(`NarHash: ${info.narHash.toString()}`, `NarSize: ${info.narSize}`);
  // Written even when empty, as "References: " with the trailing space (§2.3).
  lines.push(
    `References: ${sortStorePaths(info.references)
      .map((ref) => ref.basename)
      .join(' ')}`,
  );
  if (info.deriver !== undefined) lines.push(`Deriver: ${info.deriver.basename}`);
  if (info.system !== undefined) lines.push(`System: ${singleLine('System', info.system)}`);
  for (const sig of info.sigs.map(String).sort()) lines.push(`Sig: ${sig}`);
  if (info.ca !== undefined) lines.push(`CA: ${formatContentAddress(info.ca)}`);
  return lines.map((line) => `${line}\n`).join('');
}

/** `Key: value` lines; every line, the last included, ends in '\n' (§4). */
function* splitFields(text: string): Generator<[key: string, value: string]> {
  if (!text.endsWith('\n')) throw malformed('narinfo must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1}`;
    // Nix keeps the '\r' in the value and then rejects it (§4); say why instead.
    if (line.includes('\r')) throw malformed(`${where}: carriage return (CRLF line endings are not allowed)`);
    if (line === '') throw malformed(`${where}: blank line`);
    const colon = line.indexOf(':');
    if (colon < 0) throw malformed(`${where}: expected "Key: value"`);
    // Nix skips exactly one character after ':', whatever it is, so anything but one space misparses.
    if (line.charAt(colon + 1) !== ' ' || line.charAt(colon + 2) === ' ') {
      throw malformed(`${where}: expected exactly one space after ":"`);
    }
    yield [line.slice(0, colon), line.slice(colon + 2)];
  }
}

function field<T>(key: string, value: string, parse: (value: string) => T): T {
  return withErrorCode('NB_ERR_NARINFO_MALFORMED', key, () => parse(value));
}

/** Space-separated basenames. Duplicates are refused: Nix keeps a set, so it would sign fewer. */
function parseReferences(value: string): StorePath[] {
  if (value === '') return [];
  const refs = value.split(' ').map((basename) => StorePath.parseBasename(basename));
  if (new Set(refs.map((ref) => ref.basename)).size !== refs.length) throw malformed('duplicate reference');
  return refs;
}

/** A decimal byte count without sign or leading zeros, so it formats back to the same text. */
function parseSize(value: string): number {
  if (!DECIMAL.test(value)) throw malformed('not a decimal integer');
  const size = Number(value);
  if (!Number.isSafeInteger(size)) throw malformed('too large');
  return size;
}

function parsePositiveSize(value: string): number {
  const size = parseSize(value);
  // Nix treats NarSize 0 as a corrupt narinfo (§4).
  if (size === 0) throw malformed('must be positive');
  return size;
}

/** Free-text values must be non-empty and stay on their line. */
function singleLine(key: string, value: string): string {
  if (value === '' || /[\r\n]/.test(value)) throw malformed(`${key} must be a non-empty single line`);
  return value;
}
