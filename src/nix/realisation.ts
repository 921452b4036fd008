// Realisation: which store path an output of a content-addressed derivation was built to, as the JSON
// document Nix 2.8 keeps at `realisations/<id>.doi` in a binary cache (libstore/realisation.cc).
import { malformed, withErrorCode } from './parse-errors.js';
import { Signature } from './signature.js';
import { storePathNameProblem, StorePath } from './store-path.js';

/**
 * Nix writes the id as the derivation's hashDerivationModulo, always sha256 in base16, then `!` and the
 * output name (DrvOutput::to_string). Only that spelling is accepted, so each output has one URL.
 */
const DRV_OUTPUT_ID = /^sha256:([0-9a-f]{64})!(.*)$/s;

/** `sha256:<hex>!<output name>`: one output of a derivation, named by the derivation's hash modulo fixed outputs. */
export class DrvOutputId {
  private constructor(
    /** sha256 of the derivation modulo its fixed-output inputs, 32 bytes. */
    readonly drvHash: Uint8Array,
    readonly outputName: string,
  ) {}

  static parse(text: string): DrvOutputId {
    const match = DRV_OUTPUT_ID.exec(text);
    const [, hex, outputName] = match ?? [];
    if (hex === undefined || outputName === undefined) throw malformed('derivation output id must be "sha256:<64 hex digits>!<output name>"');
    // Output names end up in store path names (`<name>-<output>`), so they obey the same rules.
    const problem = storePathNameProblem(outputName);
    if (problem !== null) throw malformed(`invalid output name: ${problem}`);
    return new DrvOutputId(new Uint8Array(Buffer.from(hex, 'hex')), outputName);
  }

  toString(): string {
    return `sha256:${Buffer.from(this.drvHash).toString('hex')}!${this.outputName}`;
  }
}

interface DependentRealisation {
  readonly id: DrvOutputId;
  readonly outPath: StorePath;
}

export interface Realisation {
  readonly id: DrvOutputId;
  readonly outPath: StorePath;
  /** Sorted by their text and unique, as Nix's std::set<std::string> keeps them. */
  readonly signatures: readonly Signature[];
  /** The realisations of CA inputs this output was built with, sorted by id text (a std::map in Nix). */
  readonly dependentRealisations: readonly DependentRealisation[];
}

const FIELDS = new Set(['id', 'outPath', 'signatures', 'dependentRealisations']);

export function parseRealisation(text: string): Realisation {
  return withErrorCode('NB_ERR_NARINFO_MALFORMED', 'realisation', () => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw malformed('not valid JSON');
    }
    if (!isObject(json)) throw malformed('not a JSON object');
    // Refused rather than dropped: a document is served back as stored, so nothing it says may be lost.
    const unknown = Object.keys(json).find((key) => !FIELDS.has(key));
    if (unknown !== undefined) throw malformed(`unknown field ${JSON.stringify(unknown)}`);
    const { id, outPath, signatures = [], dependentRealisations = {} } = json;
    if (!Array.isArray(signatures)) throw malformed('signatures must be an array');
    if (!isObject(dependentRealisations)) throw malformed('dependentRealisations must be an object');
    return makeRealisation({
      id: DrvOutputId.parse(stringField('id', id)),
      outPath: StorePath.parseBasename(stringField('outPath', outPath)),
      signatures: signatures.map((sig) => Signature.parse(stringField('signature', sig))),
      dependentRealisations: Object.entries(dependentRealisations).map(([depId, depPath]) => ({
        id: DrvOutputId.parse(depId),
        outPath: StorePath.parseBasename(stringField('dependent realisation', depPath)),
      })),
    });
  });
}

/** Sorts and deduplicates signatures and dependencies, so equal realisations format equally. */
export function makeRealisation(parts: Realisation): Realisation {
  return {
    id: parts.id,
    outPath: parts.outPath,
    signatures: uniqueSorted(parts.signatures, String),
    dependentRealisations: uniqueSorted(parts.dependentRealisations, (dep) => dep.id.toString()),
  };
}

/** Compact JSON with keys in byte order: what nlohmann::json's dump() gives Nix, byte for byte. */
export function formatRealisation(realisation: Realisation): string {
  return JSON.stringify({ ...signedFields(realisation), signatures: realisation.signatures.map(String) });
}

/** The text a realisation's signatures sign: the document without `signatures` (Realisation::fingerprint). */
export function fingerprintRealisation(realisation: Realisation): string {
  return JSON.stringify(signedFields(realisation));
}

/** Every field but `signatures`, in key order. */
function signedFields(realisation: Realisation) {
  return {
    dependentRealisations: Object.fromEntries(realisation.dependentRealisations.map((dep) => [dep.id.toString(), dep.outPath.basename])),
    id: realisation.id.toString(),
    outPath: realisation.outPath.basename,
  };
}

/** One item per key (the last given), in byte order of the keys, which are ASCII. */
function uniqueSorted<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const byKey = new Map(items.map((item) => [keyOf(item), item]));
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(what: string, value: unknown): string {
  if (typeof value !== 'string') throw malformed(`${what} must be a string`);
  return value;
}
