// PUT|HEAD /nar/<filehash>.nar[.ext]: NAR uploads, ingested while they arrive. HEAD answers truthfully,
// so Nix skips NARs we already hold (nix-http-protocol.md §2.1).
import type { FastifyInstance } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { parseUploadedNarName, receiveNar, uploadedNarNameProblem, type Store } from '../../store/index.js';
import { DEFAULT_HTTP_LIMITS, idleLimited, UploadSlots, type HttpLimits } from '../limits.js';

export interface NarUploadOptions {
  readonly store: Store;
  readonly limits?: HttpLimits;
}

interface UploadRequest {
  Params: { file: string };
}

function fileHashOf(file: string): Uint8Array {
  const fileHash = parseUploadedNarName(file);
  if (!fileHash) throw new NarBridgeError('NB_ERR_NOT_FOUND', uploadedNarNameProblem(file));
  return fileHash;
}

export async function narUploadRoutes(app: FastifyInstance, { store, limits = DEFAULT_HTTP_LIMITS }: NarUploadOptions): Promise<void> {
  const slots = new UploadSlots(limits.maxConcurrentUploads);
  app.head<UploadRequest>('/nar/:file', async (request, reply) => {
    const upload = await store.narUploads.get(fileHashOf(request.params.file));
    if (!upload) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no such NAR');
    return reply.type('application/x-nix-nar').header('content-length', String(upload.fileSize)).send();
  });

  app.put<UploadRequest>('/nar/:file', async (request, reply) => {
    const fileHash = fileHashOf(request.params.file);
    const body = idleLimited(request, limits.uploadIdleTimeoutMs);
    const upload = await slots.run(request.raw, () => receiveNar(store, fileHash, body, { limits: limits.upload, brotli: request.params.file.endsWith('.br') }));
    request.log.info({ file: request.params.file, narSize: upload.narSize, fileSize: upload.fileSize }, 'NAR ingested');
    return reply.code(204).send();
  });
}
