// What `nar-bridge`, `nar-bridge help [COMMAND]`, `nar-bridge COMMAND --help` and `--version` print: a short list of
// commands, and each command's own usage.
import { readFileSync } from 'node:fs';
import { NarBridgeError } from '../errors.js';
import { CAT_USAGE } from './cat.js';
import { COPY_USAGE } from './copy.js';
import { EXPORT_USAGE } from './export.js';
import { IMPORT_USAGE } from './import.js';
import { INFO_USAGE } from './info.js';
import { KEYS_USAGE } from './keys.js';
import { LS_USAGE } from './ls.js';
import { MIGRATE_USAGE } from './migrate.js';
import { VERIFY_USAGE } from './verify.js';
import { DELETE_USAGE, GC_USAGE, PIN_USAGE, PINS_USAGE, UNPIN_USAGE } from './gc.js';

const SERVE_USAGE = `usage: nar-bridge serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--priority N] [--log-level LEVEL] …

  Serves the store to Nix as an HTTP binary cache (and, with --grpc-listen, as tvix gRPC services). Logs to stdout
  (readable lines on a terminal, JSON lines otherwise, see --log-format); the first info line, "nar-bridge listening", sums up the configuration (addresses, store, signing key).

  --config     TOML file whose keys are these flags' names (env NAR_BRIDGE_CONFIG); flags > env > file > defaults
  --listen     address to serve HTTP on (env NAR_BRIDGE_LISTEN, default 127.0.0.1:9000)
  --data-dir   embedded store location (env NAR_BRIDGE_DATA_DIR, default $XDG_DATA_HOME/nar-bridge)
  --priority   Priority advertised in nix-cache-info (env NAR_BRIDGE_PRIORITY, default 40)
  --log-level  fatal|error|warn|info|debug|trace|silent (env NAR_BRIDGE_LOG_LEVEL, default info)
  --log-format pretty|json  (env NAR_BRIDGE_LOG_FORMAT, default: pretty on a terminal, JSON otherwise)
  --grpc-listen HOST:PORT|unix:/PATH   also serve the tvix gRPC services there (env NAR_BRIDGE_GRPC_LISTEN)
  --grpc-tls-cert FILE --grpc-tls-key FILE   serve gRPC over TLS with this PEM chain and key (env NAR_BRIDGE_GRPC_TLS_CERT/_KEY)
  --workers N  processes serving requests on the same addresses and data dir (env NAR_BRIDGE_WORKERS,
               default: the number of CPUs; 1 serves from a single process)
  --blob-service-addr URL       blobs elsewhere: memory://, local:///DIR, grpc+http://H:P, grpc+https://H:P,
                                grpc+unix:///SOCKET, s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true
                                (env NAR_BRIDGE_BLOB_SERVICE_ADDR, default: the data dir)
  --directory-service-addr URL  memory://, sqlite:///FILE, postgresql://USER@HOST:PORT/DB or grpc+…
                                (env NAR_BRIDGE_DIRECTORY_SERVICE_ADDR)
  --path-info-service-addr URL  the same schemes (env NAR_BRIDGE_PATH_INFO_SERVICE_ADDR); with postgresql:// the NAR
                                upload and build-log indexes (and an s3:// blob index) are kept there too, shared by
                                every replica
                                grpc+… URLs take ?token-file=/PATH (sent as a Bearer token); grpc+https also ?ca-file=/PEM
  --grpc-client-token-file FILE token for grpc+… service URLs without their own (env NAR_BRIDGE_GRPC_CLIENT_TOKEN_FILE)
  --signing-key-file FILE       sign served narinfos with this Nix secret key; repeatable (env NAR_BRIDGE_SIGNING_KEY_FILE)
  --trusted-public-keys "K…"    keys whose signatures --require-signed-uploads accepts (env NAR_BRIDGE_TRUSTED_PUBLIC_KEYS)
  --require-signed-uploads      refuse narinfos not signed by a trusted key, unless their CA checks out
  --tokens-file FILE            "read TOKEN" / "write TOKEN" lines; writes then need a write token (Basic password or Bearer)
  --private-reads               reads need a read or write token too (needs --tokens-file)
  --max-nar-size BYTES          per upload, compressed and uncompressed (default 64G; K/M/G/T suffixes)
  --max-narinfo-size BYTES      (default 1M)
  --max-decompression-ratio N   NAR bytes per uploaded byte, past 16 MiB (default 1000)
  --max-depth N                 directory nesting in a NAR (default 1024)
  --max-entries-per-directory N (default 1000000)
  --upload-idle-timeout SECONDS an upload body silent this long is refused with 400 (default 60)
  --max-concurrent-uploads N    NAR uploads ingested at once; more wait their turn (default 32)
  --upstream URL                pull narinfo misses from this Nix cache, verified; repeatable (env NAR_BRIDGE_UPSTREAM, space-separated):
                                'http://H:P/PATH?trusted-public-keys=name:KEY%20name2:KEY2&priority=N'
  --upstream-miss-ttl SECONDS   answer a path no upstream had as absent for this long (default 60)
  --composition FILE            TOML or JSON file composing tiered services (see README, Composition)
  --cache-max-size SIZE         keep hot blobs of --blob-service-addr on local disk (DATA_DIR/near-cache), at most SIZE,
                                least recently read evicted (at least 4M; 512M, 20G; env NAR_BRIDGE_CACHE_MAX_SIZE)
  --gc-interval DUR             collect garbage in the background this often (30m, 6h; env NAR_BRIDGE_GC_INTERVAL)
  --gc-max-size SIZE            evict least recently used paths until their NarSizes fit in SIZE (env NAR_BRIDGE_GC_MAX_SIZE)
  --gc-max-age DUR              evict paths not looked up for DUR (env NAR_BRIDGE_GC_MAX_AGE)
  --gc-upload-grace DUR         keep a NAR no narinfo claimed this long after its upload or last HEAD (default 24h;
                                env NAR_BRIDGE_GC_UPLOAD_GRACE)
  --gc-object-grace DUR         keep blobs and Directories nothing refers to yet this long after they were written (gRPC
                                clients put the PathInfo last; default 1h with --grpc-listen, else 0; env NAR_BRIDGE_GC_OBJECT_GRACE)

`;

/** Each command: one line for the list, and its full usage. */
const COMMANDS = {
  serve: { summary: 'serve the store to Nix as an HTTP binary cache (and tvix gRPC)', usage: SERVE_USAGE },
  keys: { summary: 'generate a signing key, or print the public key of one', usage: KEYS_USAGE },
  import: { summary: 'copy paths (and closures) from the local /nix/store into the store', usage: IMPORT_USAGE },
  info: { summary: 'what the store holds: counts, sizes, deduplication ratio', usage: INFO_USAGE },
  export: { summary: 'write the NAR of a store path', usage: EXPORT_USAGE },
  ls: { summary: 'list the files of a store path, like nix store ls', usage: LS_USAGE },
  cat: { summary: 'print one file of a store path', usage: CAT_USAGE },
  copy: { summary: 'copy every store path of one store into another (resumable, verified)', usage: COPY_USAGE },
  migrate: { summary: 'create or upgrade the PostgreSQL schema of the metadata services', usage: MIGRATE_USAGE },
  verify: { summary: 're-hash every stored object; report what is corrupt and which paths it breaks', usage: VERIFY_USAGE },
  gc: { summary: 'delete what no stored path needs (and evict by size or age); give the disk space back', usage: GC_USAGE },
  delete: { summary: 'delete store paths (refused while a kept path refers to them)', usage: DELETE_USAGE },
  pin: { summary: 'keep store paths and their closures from eviction and deletion', usage: PIN_USAGE },
  unpin: { summary: 'remove pins', usage: UNPIN_USAGE },
  pins: { summary: 'list pinned store paths', usage: PINS_USAGE },
} as const satisfies Record<string, { readonly summary: string; readonly usage: string }>;

/** A command's name: the keys of the table above, so adding a command is one line. */
export type Command = keyof typeof COMMANDS;

export function isCommand(name: string): name is Command {
  return Object.hasOwn(COMMANDS, name);
}

/** `nar-bridge`, `nar-bridge help`, `nar-bridge --help`. */
export function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return [
    'usage: nar-bridge <command> [options]',
    '',
    ...list,
    '',
    "nar-bridge <command> --help (or nar-bridge help <command>) shows a command's options; --version the version.",
    '',
  ].join('\n');
}

/** `nar-bridge help NAME` and `nar-bridge NAME --help`. */
export function usageOf(name: string): string {
  if (!isCommand(name)) throw unknownCommand(name);
  return COMMANDS[name].usage;
}

export function unknownCommand(name: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_CONFIG', `unknown command '${name}' (nar-bridge --help lists the commands)`);
}

/** `--help` or `-h` among a command's arguments (before a `--`, after which everything is a positional). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** `nar-bridge --version`: package.json sits two levels up from both src/cli and dist/cli. */
export function version(): string {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `nar-bridge ${version}\n`;
}
