// `nar-bridge keys generate --name NAME [--out FILE]` and `nar-bridge keys public [FILE]`: Nix-format
// ed25519 key files, as `nix key generate-secret` and `nix key convert-secret-to-public` make them.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { NarBridgeError } from '../errors.js';
import { generateSigningKey, SigningKey } from '../nix/index.js';
import { parseSigningKeyFile } from './load-trust.js';

export const KEYS_USAGE = `usage: nar-bridge keys generate --name NAME [--out FILE]   secret key to FILE (mode 0600) or stdout
       nar-bridge keys public [FILE]                         public key of the secret key in FILE or stdin
`;

interface KeysIo {
  readonly stdout: (text: string) => void;
  readonly stdin: () => Promise<string>;
}

export async function keysCommand(args: readonly string[], io: KeysIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'generate') {
    const { values } = parseArgs({ args: [...rest], strict: true, options: { name: { type: 'string' }, out: { type: 'string' } } });
    if (!values.name) throw new NarBridgeError('NB_ERR_CONFIG', 'keys generate needs --name NAME (e.g. cache.example.org-1)');
    const secret = generateSigningKey(values.name).toString();
    if (values.out) await writeNewFile(values.out, secret);
    else io.stdout(`${secret}\n`);
    return 0;
  }
  if (sub === 'public') {
    const { positionals } = parseArgs({ args: [...rest], strict: true, allowPositionals: true, options: {} });
    if (positionals.length > 1) throw new NarBridgeError('NB_ERR_CONFIG', 'keys public takes at most one FILE');
    const file = positionals[0];
    const key = file === undefined ? SigningKey.parse(await io.stdin()) : parseSigningKeyFile(await readFile(file, 'utf8'), file);
    io.stdout(`${key.publicKey().toString()}\n`);
    return 0;
  }
  throw new NarBridgeError('NB_ERR_CONFIG', `keys: expected "generate" or "public"\n${KEYS_USAGE}`);
}

/** `wx`: never overwrite an existing key; 0600: a secret key readable by others is a leaked key. */
async function writeNewFile(file: string, secret: string): Promise<void> {
  try {
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const why = err instanceof Error && 'code' in err && err.code === 'EEXIST' ? 'it already exists' : String(err);
    throw new NarBridgeError('NB_ERR_CONFIG', `cannot write ${file}: ${why}`, { cause: err });
  }
}
