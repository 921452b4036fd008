// GET|HEAD|PUT /realisations/<drv output id>.doi: realisations of content-addressed derivation outputs, which
// Nix 2.8 (with ca-derivations) uploads after the output's path and reads before substituting the output.
import type { FastifyInstance } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { DrvOutputId, formatRealisation, parseRealisation } from '../../nix/index.js';
import type { RealisationService } from '../../store/index.js';
import { readTextBody } from '../body.js';
import { DEFAULT_MAX_NARINFO_BYTES, DEFAULT_UPLOAD_IDLE_TIMEOUT_MS } from '../limits.js';

interface RealisationOptions {
  readonly realisations: RealisationService;
  /** Realisations are small documents like narinfos, and share their size limit. */
  readonly maxBytes?: number;
  readonly uploadIdleTimeoutMs?: number;
}

/** The spelling Nix writes (DrvOutputId has the rules), with the suffix the binary cache layout adds. */
const REALISATION_PARAMS = {
  type: 'object',
  properties: { file: { type: 'string', pattern: '^sha256:[0-9a-f]{64}![A-Za-z0-9+._?=-]+\\.doi$', maxLength: 300 } },
  required: ['file'],
} as const;

interface RealisationRequest {
  Params: { file: string };
}

export async function realisationRoutes(
  app: FastifyInstance,
  { realisations, maxBytes = DEFAULT_MAX_NARINFO_BYTES, uploadIdleTimeoutMs = DEFAULT_UPLOAD_IDLE_TIMEOUT_MS }: RealisationOptions,
): Promise<void> {
  app.get<RealisationRequest>('/realisations/:file', { schema: { params: REALISATION_PARAMS } }, async (request, reply) => {
    const realisation = await realisations.get(idOf(request.params.file));
    if (!realisation) return reply.code(404).type('text/plain; charset=utf-8').send('no realisation of this output\n');
    return reply.type('application/json').send(formatRealisation(realisation));
  });

  app.put<RealisationRequest>('/realisations/:file', { schema: { params: REALISATION_PARAMS } }, async (request, reply) => {
    const id = idOf(request.params.file);
    const realisation = parseRealisation(await readTextBody(request, maxBytes, uploadIdleTimeoutMs));
    if (realisation.id.toString() !== id.toString()) {
      throw new NarBridgeError('NB_ERR_NARINFO_MALFORMED', 'realisation id does not match the URL');
    }
    // Accepted whether or not the output path is held here: Nix uploads it first, other clients may not.
    const stored = await realisations.put(realisation);
    request.log.info({ drvOutput: id.toString(), outPath: stored.outPath.basename, signatures: stored.signatures.length }, 'realisation stored');
    return reply.code(204).send();
  });
}

function idOf(file: string): DrvOutputId {
  return DrvOutputId.parse(file.slice(0, -'.doi'.length));
}
