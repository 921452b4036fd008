// What `nix path-info --json` says about local store paths. Nix up to 2.18 prints an array of objects with a
// `path` field; from 2.19 an object keyed by store path, whose values lack `path`, may have null for absent
// fields, and are null themselves for paths that are not valid. Both shapes are read here, types checked.
import { NarBridgeError } from '../errors.js';

export interface LocalPathInfo {
  readonly path: string;
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly deriver?: string;
  readonly ca?: string;
  readonly signatures: readonly string[];
}

type Json = unknown;

export function parsePathInfoJson(text: string): LocalPathInfo[] {
  let root: Json;
  try {
    root = JSON.parse(text);
  } catch {
    throw malformed('output is not JSON');
  }
  if (Array.isArray(root)) {
    return root.map((value: Json, i) => {
      const fields = objectOf(value, `element ${i}`);
      return parseFields(stringOf(fields.path, `element ${i}: path`), fields);
    });
  }
  if (isObject(root)) {
    return Object.entries(root).map(([path, value]) => {
      if (value === null) throw absent(path);
      const fields = objectOf(value, path);
      if (fields.path !== undefined && fields.path !== path) throw malformed(`${path}: path is ${JSON.stringify(fields.path)}`);
      return parseFields(path, fields);
    });
  }
  throw malformed('expected an array or an object');
}

function parseFields(path: string, fields: Record<string, Json>): LocalPathInfo {
  if (fields.valid === false) throw absent(path);
  const narSize = fields.narSize;
  if (typeof narSize !== 'number' || !Number.isSafeInteger(narSize) || narSize < 0) {
    throw malformed(`${path}: narSize is not a non-negative integer`);
  }
  const deriver = optionalStringOf(fields.deriver, `${path}: deriver`);
  const ca = optionalStringOf(fields.ca, `${path}: ca`);
  return {
    path,
    narHash: stringOf(fields.narHash, `${path}: narHash`),
    narSize,
    references: stringsOf(fields.references, `${path}: references`),
    ...(deriver === undefined ? {} : { deriver }),
    ...(ca === undefined ? {} : { ca }),
    signatures: fields.signatures === undefined || fields.signatures === null ? [] : stringsOf(fields.signatures, `${path}: signatures`),
  };
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectOf(value: Json, what: string): Record<string, Json> {
  if (!isObject(value)) throw malformed(`${what} is not an object`);
  return value;
}

function stringOf(value: Json, what: string): string {
  if (typeof value !== 'string') throw malformed(`${what} is not a string`);
  return value;
}

/** Absent and null both mean none. */
function optionalStringOf(value: Json, what: string): string | undefined {
  return value === undefined || value === null ? undefined : stringOf(value, what);
}

function stringsOf(value: Json, what: string): string[] {
  if (!Array.isArray(value)) throw malformed(`${what} is not a list`);
  return value.map((item: Json, i) => stringOf(item, `${what}[${i}]`));
}

function malformed(what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `nix path-info --json: ${what}`);
}

/** A path the local Nix store does not have: the user's mistake (exit 1), not broken Nix output. */
function absent(path: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_NOT_FOUND', `import: ${path} is not in the local Nix store`);
}
