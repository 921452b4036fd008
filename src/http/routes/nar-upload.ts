// PUT|GET|HEAD /nar/<filehash>.nar[.ext]: NAR uploads, ingested while they arrive, and served back at the same URL,
// which a client that pushed keeps in its narinfo cache (nix-http-protocol.md §7). HEAD answers truthfully for any
// upload, so Nix skips NARs we already hold (§2.1); GET only for uploads a PathInfo was made from.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import {
  describeUploadedNar,
  openUploadedNar,
  parseUploadedNarName,
  receiveNar,
  type Store,
  type UploadedNarFile,
  type UploadedNarName,
  uploadedNarNameProblem,
} from '../../store/index.js';
import { DEFAULT_HTTP_LIMITS, idleLimited, UploadSlots, type HttpLimits } from '../limits.js';
import { releasingBody } from '../releasing-body.js';

interface NarUploadOptions {
  readonly store: Store;
  readonly limits?: HttpLimits;
}

interface UploadRequest {
  Params: { file: string };
}

function nameOf(file: string): UploadedNarName {
  const name = parseUploadedNarName(file);
  if (!name) throw new NarBridgeError('NB_ERR_NOT_FOUND', uploadedNarNameProblem(file));
  return name;
}

function notFound(): NarBridgeError {
  return new NarBridgeError('NB_ERR_NOT_FOUND', 'no such NAR');
}

/** bzip2 is compressed as it goes out, so its length is not known up front: then the reply is chunked. */
function headers(reply: FastifyReply, file: UploadedNarFile): FastifyReply {
  reply.type('application/x-nix-nar');
  return file.size === null ? reply : reply.header('content-length', String(file.size));
}

export async function narUploadRoutes(app: FastifyInstance, { store, limits = DEFAULT_HTTP_LIMITS }: NarUploadOptions): Promise<void> {
  const slots = new UploadSlots(limits.maxConcurrentUploads);
  const config = { cachePolicy: 'immutable' } as const;

  app.head<UploadRequest>('/nar/:file', { config }, async (request, reply) => {
    const file = await describeUploadedNar(store, nameOf(request.params.file));
    if (!file) throw notFound();
    return headers(reply, file).send();
  });

  app.get<UploadRequest>('/nar/:file', { config, exposeHeadRoute: false }, async (request, reply) => {
    const nar = await openUploadedNar(store, nameOf(request.params.file));
    if (!nar) throw notFound();
    return headers(reply, nar).send(releasingBody(nar.stream(), reply.raw));
  });

  app.put<UploadRequest>('/nar/:file', async (request, reply) => {
    const fileHash = nameOf(request.params.file).fileHash;
    const body = idleLimited(request, limits.uploadIdleTimeoutMs);
    const upload = await slots.run(request.raw, () =>
      receiveNar(store, fileHash, body, { limits: limits.upload, brotli: request.params.file.endsWith('.br') }),
    );
    request.log.info({ file: request.params.file, narSize: upload.narSize, fileSize: upload.fileSize }, 'NAR ingested');
    return reply.code(204).send();
  });
}
