// Services from URLs, tvix style: the scheme before any `+` picks a factory from an immutable table.
import { NarBridgeError } from '../errors.js';
import { GrpcConnection } from './grpc/connection.js';
import { grpcEndpointFromUrl } from './grpc/endpoint.js';
import { PostgresDatabase } from './postgres.js';
import { serviceUrlError as configError } from './service-url-error.js';
import { openDatabase, type Database } from './sqlite.js';

export interface OpenedService<S> {
  readonly service: S;
  /** Releases what the service holds (a database handle, a channel). */
  close(): void;
}

type ServiceFactory<S> = (url: URL) => OpenedService<S> | Promise<OpenedService<S>>;
export type SchemeTable<S> = ReadonlyMap<string, ServiceFactory<S>>;

export async function serviceFromUrl<S>(raw: string, schemes: SchemeTable<S>): Promise<OpenedService<S>> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw configError(raw, 'not a URL', err);
  }
  const scheme = url.protocol.slice(0, -1).split('+')[0] ?? '';
  const make = schemes.get(scheme);
  if (!make) throw configError(raw, `no service for scheme ${url.protocol} (known: ${[...schemes.keys()].join(', ')})`);
  return make(url);
}

/** For URLs that name nothing but a scheme, like `memory://`. */
function requireBareUrl(url: URL): void {
  if (url.host || (url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username) {
    throw configError(url.href, `${url.protocol}// takes no host, path or query`);
  }
}

/** For `local:///abs/dir`, `sqlite:///abs/file`: no host, no query, an absolute path. */
export function absolutePathOf(url: URL): string {
  if (url.host || url.search || url.hash || url.username) throw configError(url.href, 'expected an absolute path and nothing else');
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith('/') || path.length < 2 || path.includes('\0')) throw configError(url.href, 'expected an absolute path');
  return path;
}

/** A plain scheme (`memory`) may not carry a transport (`memory+grpc`); only grpc URLs have one. */
export function requirePlainScheme(url: URL): void {
  if (url.protocol.includes('+')) throw configError(url.href, `unknown transport in ${url.protocol}`);
}

/** `memory://`: a fresh in-process service. */
export function memoryScheme<S>(make: () => S): ServiceFactory<S> {
  return (url) => {
    requirePlainScheme(url);
    requireBareUrl(url);
    return { service: make(), close: () => undefined };
  };
}

/** `sqlite:///abs/file`: a service over its own connection to that database. */
export function sqliteScheme<S>(make: (db: Database) => S): ServiceFactory<S> {
  return (url) => {
    requirePlainScheme(url);
    const db = openDatabase(absolutePathOf(url));
    return { service: make(db), close: () => db.close() };
  };
}

/**
 * `grpc+http://host:port`, `grpc+https://host:port`, `grpc+unix:///abs/socket` (each optionally `?token-file=`,
 * https also `?ca-file=`): a client over its own channels.
 */
export function grpcScheme<S>(make: (connection: GrpcConnection) => S): ServiceFactory<S> {
  return async (url) => {
    const connection = new GrpcConnection(await grpcEndpointFromUrl(url));
    return { service: make(connection), close: () => connection.close() };
  };
}

/**
 * `postgresql://user@host:port/db?…` (also `postgres://`): a service over its own pool, its tables migrated before
 * it is handed out. Closing ends the pool in the background, once queries in flight finish.
 */
export function postgresScheme<S>(make: (db: PostgresDatabase) => Promise<S>): ServiceFactory<S> {
  return async (url) => {
    let db: PostgresDatabase | undefined;
    try {
      db = await PostgresDatabase.open(url);
      return { service: await make(db), close: () => void db?.close() };
    } catch (err) {
      await db?.close();
      if (!NarBridgeError.is(err) || err.code !== 'NB_ERR_STORAGE') throw err;
      // A database that cannot be used at startup is the operator's to fix: one line, exit 2, as for a bad URL.
      throw configError(url.href, `cannot use the database: ${err.cause instanceof Error ? err.cause.message : err.message}`, err);
    }
  };
}
