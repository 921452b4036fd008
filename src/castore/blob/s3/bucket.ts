// S3Bucket: the few object-store calls the S3 blob backend makes (ranged GETs, streamed uploads of whole pack files),
// from an `s3://bucket/prefix?endpoint=…&region=…&path-style=true` URL. Credentials come from the AWS SDK's default
// chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, …) and never appear in messages.
import { createReadStream } from 'node:fs';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NarBridgeError } from '../../../errors.js';
import type { CallOptions } from '../../call-options.js';
import { serviceUrlError } from '../../service-url-error.js';

/** A server that does not accept a connection this fast is treated as down (the SDK retries). */
const CONNECT_TIMEOUT_MS = 5_000;
/** No single request (at most one upload part or one ranged read of a few MiB) should take longer. */
const REQUEST_TIMEOUT_MS = 60_000;
/** The SDK's standard retry: throttling, 5xx and connection failures only, with jittered backoff. */
const MAX_ATTEMPTS = 4;
/** Multipart parts of a pack upload, and how many are in flight: bounds an upload's memory to their product. */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;

/** Keys per DeleteObjects request (the S3 limit). */
const DELETE_BATCH = 1000;

const QUERY_KEYS = ['endpoint', 'region', 'path-style'] as const;

export interface S3Location {
  readonly bucket: string;
  /** Prepended to every key: '' or ends with '/'. */
  readonly prefix: string;
  readonly config: S3ClientConfig;
  /** For messages: the URL without credentials (an s3 URL carries none). */
  readonly label: string;
}

/** Parses `s3://bucket[/prefix][?endpoint=URL&region=R&path-style=true|false]`. */
export function parseS3Url(url: URL): S3Location {
  if (url.protocol !== 's3:') throw serviceUrlError(url.href, 'expected s3://');
  if (url.username || url.password) throw serviceUrlError(url.href, 'takes no credentials: they come from the AWS environment variables or credentials file');
  if (url.hash || url.port) throw serviceUrlError(url.href, 'takes no port or #fragment (the endpoint goes in ?endpoint=)');
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw serviceUrlError(url.href, 'the host must be a bucket name');
  const query = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    if (!QUERY_KEYS.some((k) => k === key)) throw serviceUrlError(url.href, `unknown parameter '${key}' (known: ${QUERY_KEYS.join(', ')})`);
    query.set(key, value);
  }
  const path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  const endpoint = query.get('endpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) throw serviceUrlError(url.href, 'endpoint must be http(s)://host[:port]');
  const pathStyle = query.get('path-style');
  if (pathStyle !== undefined && pathStyle !== 'true' && pathStyle !== 'false') throw serviceUrlError(url.href, 'path-style must be true or false');
  const region = query.get('region');
  return {
    bucket,
    prefix: path === '' ? '' : `${path}/`,
    label: url.href,
    config: {
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      forcePathStyle: pathStyle === 'true',
      // radosgw (and other S3 servers) refuse the SDK's default trailing checksums on streamed bodies.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    },
  };
}

export class S3Bucket {
  readonly #client: S3Client;

  constructor(private readonly location: S3Location) {
    // On Node < 22 the SDK writes a multi-line notice to stderr at the first client: its releases after January 2027
    // will need Node 22. That is about our dependency's future, not this process; on a server's stderr (its log) it
    // is noise an operator can do nothing about. The SDK has no client option for it, only this variable, read when
    // a client is made; an operator who sets it keeps their value.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.#client = new S3Client(location.config);
  }

  get label(): string {
    return this.location.label;
  }

  /** Fails (NB_ERR_STORAGE) unless the bucket exists and the credentials may use it. */
  async check(opts?: CallOptions): Promise<void> {
    await this.#call('reach the bucket', () => this.#client.send(new HeadBucketCommand({ Bucket: this.location.bucket }), signalOf(opts)));
  }

  /** `length` bytes of `key` from `start` (fewer only at the object's end). */
  async read(key: string, start: number, length: number, opts?: CallOptions): Promise<Buffer> {
    return this.#call(`read ${key}`, async () => {
      const answer = await this.#client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.location.prefix + key, Range: `bytes=${start}-${start + length - 1}` }),
        signalOf(opts),
      );
      const body = answer.Body as AsyncIterable<Uint8Array> | undefined;
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      for await (const piece of body ?? []) {
        if (filled + piece.byteLength > length) throw new NarBridgeError('NB_ERR_STORAGE', `S3 ${this.label}: read ${key} sent more bytes than asked for`);
        buffer.set(piece, filled);
        filled += piece.byteLength;
      }
      return filled === length ? buffer : buffer.subarray(0, filled);
    });
  }

  /** Uploads the file at `path` as `key`, streamed (multipart when large); writing the same bytes again is harmless. */
  async upload(key: string, path: string, opts?: CallOptions): Promise<void> {
    await this.#call(`upload ${key}`, async () => {
      const upload = new Upload({
        client: this.#client,
        params: { Bucket: this.location.bucket, Key: this.location.prefix + key, Body: createReadStream(path) },
        partSize: PART_BYTES,
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      const onAbort = () => void upload.abort().catch(() => undefined);
      opts?.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await upload.done();
      } finally {
        opts?.signal?.removeEventListener('abort', onAbort);
      }
    });
  }

  /** Whether `key` is in the bucket. */
  async exists(key: string, opts?: CallOptions): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.location.prefix + key }), signalOf(opts));
      return true;
    } catch (err) {
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return false;
      throw new NarBridgeError('NB_ERR_STORAGE', `S3 ${this.label}: look up ${key} failed: ${reason(err)}`, { cause: err });
    }
  }

  /** Deletes `keys` (absent ones are no error), in batches of the most one request takes. */
  async delete(keys: readonly string[], opts?: CallOptions): Promise<void> {
    for (let at = 0; at < keys.length; at += DELETE_BATCH) {
      const batch = keys.slice(at, at + DELETE_BATCH);
      const answer = await this.#call(`delete ${batch.length} objects`, () =>
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.location.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.location.prefix + key })), Quiet: true },
          }),
          signalOf(opts),
        ),
      );
      const failed = answer.Errors?.[0];
      if (failed) throw new NarBridgeError('NB_ERR_STORAGE', `S3 ${this.label}: delete ${failed.Key ?? '?'} failed: ${failed.Code ?? 'error'}`);
    }
  }

  close(): void {
    this.#client.destroy();
  }

  /** Runs one call; any failure becomes NB_ERR_STORAGE with a one-line reason (status or errno, never credentials). */
  async #call<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      if (NarBridgeError.is(err)) throw err;
      throw new NarBridgeError('NB_ERR_STORAGE', `S3 ${this.label}: ${what} failed: ${reason(err)}`, { cause: err });
    }
  }
}

function signalOf(opts: CallOptions | undefined): { abortSignal?: AbortSignal } {
  return opts?.signal ? { abortSignal: opts.signal } : {};
}

function reason(err: unknown): string {
  if (err instanceof S3ServiceException) return `${err.$metadata.httpStatusCode ?? '?'} ${err.name}`;
  if (err instanceof Error) {
    const code = Reflect.get(err, 'code');
    return typeof code === 'string' ? code : err.name === 'Error' ? (err.message.split('\n')[0] ?? 'error') : err.name;
  }
  return String(err);
}
