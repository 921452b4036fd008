// The config file (`--config FILE`, NAR_BRIDGE_CONFIG): TOML whose keys are the flag names, parsed and type-checked
// against the same option table parseArgs uses, so a flag and its key can never drift apart.
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { NarBridgeError } from '../errors.js';

/** The shape of a parseArgs option table: flag name → type. */
type OptionTable = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;

/** What parseArgs yields for `T`, and what a config file may set. */
export type OptionValues<T extends OptionTable> = {
  [K in keyof T]?: T[K] extends { readonly type: 'boolean' } ? boolean : T[K] extends { readonly multiple: true } ? string[] : string;
};

/** The variable that sets flag `key`: `max-nar-size` → NAR_BRIDGE_MAX_NAR_SIZE. Every serve setting follows it. */
export function envName(key: string): string {
  return `NAR_BRIDGE_${key.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * `flags` completed from the config file `file` (if any), for the keys whose variable is not set: the one
 * precedence is flags > environment > config file > defaults, and the settings code, which already reads
 * `flag ?? env ?? default`, sees a config value exactly as if it had been given as the flag.
 * An unknown key, a wrong type or unreadable TOML is NB_ERR_CONFIG (exit 2) naming the file and the key.
 */
export function withConfigFile<T extends OptionTable, F extends OptionValues<T>>(options: T, flags: F, file: string | undefined, env: NodeJS.ProcessEnv): F {
  if (file === undefined || file === '') return flags;
  const fromFile = Object.entries(readConfigFile(options, file)).filter(([key]) => env[envName(key)] === undefined);
  return { ...Object.fromEntries(fromFile), ...flags };
}

/** Parses and checks `file`; the result holds only keys of `options`, each with the type parseArgs would give it. */
export function readConfigFile<T extends OptionTable>(options: T, file: string): OptionValues<T> {
  const fail = (why: string) => new NarBridgeError('NB_ERR_CONFIG', `config file ${file}: ${why}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NarBridgeError('NB_ERR_CONFIG', `cannot read config file ${file}`, { cause: err });
  }
  let table: Record<string, unknown>;
  try {
    table = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const why = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new NarBridgeError('NB_ERR_CONFIG', `config file ${file}:${err.line}:${err.column}: ${why}`, { cause: err });
  }
  const values: Record<string, string | boolean | string[]> = {};
  for (const [key, value] of Object.entries(table)) {
    const option = Object.hasOwn(options, key) ? options[key] : undefined;
    if (!option) throw fail(`unknown key "${key}"`);
    values[key] = configValue(option, value, (expected) => fail(`"${key}" must be ${expected}`));
  }
  return values as OptionValues<T>;
}

/** A TOML value as the string, boolean or string list parseArgs would have produced for the flag. */
function configValue(option: OptionTable[string], value: unknown, wrong: (expected: string) => Error): string | boolean | string[] {
  if (option.type === 'boolean') {
    if (typeof value !== 'boolean') throw wrong('true or false');
    return value;
  }
  // Numbers are written bare in TOML (`priority = 40`); the setting's own parser checks them, as it does flags.
  const scalar = (v: unknown): string | null => (typeof v === 'string' ? v : Number.isSafeInteger(v) ? String(v) : null);
  if (option.multiple) {
    const list = Array.isArray(value) ? value.map(scalar) : [scalar(value)];
    if (list.some((item) => item === null)) throw wrong('a string or a list of strings');
    return list.filter((item) => item !== null);
  }
  const text = scalar(value);
  if (text === null) throw wrong('a string or an integer');
  return text;
}

/**
 * Runs `build` (which turns option values into settings), rewording a setting's error — every one starts with its
 * flag, "--listen must be HOST:PORT" — to name where the bad value came from when that was not the flag: the
 * variable, or the config file and key. Same precedence as withConfigFile.
 */
export function namingTheSource<T>(build: () => T, flags: Readonly<Record<string, unknown>>, file: string | undefined, env: NodeJS.ProcessEnv): T {
  try {
    return build();
  } catch (err) {
    const match = NarBridgeError.is(err) && err.code === 'NB_ERR_CONFIG' ? /^--([a-z-]+) (.*)$/s.exec(err.message) : null;
    const key = match?.[1];
    if (match === null || key === undefined || flags[key] !== undefined) throw err;
    const variable = envName(key);
    const source = env[variable] !== undefined && env[variable] !== '' ? variable : file ? `config file ${file}: "${key}"` : null;
    if (source === null) throw err;
    throw new NarBridgeError('NB_ERR_CONFIG', `${source} ${match[2]}`, { cause: err });
  }
}
