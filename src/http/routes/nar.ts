// GET|HEAD /nar/tvix-castore/<base64url(Node)>?narsize=N: the NAR rendered from the castore graph, streamed.
// A single `Range` is answered with 206 and only the blobs it overlaps are read; a whole NAR is encoded
// on the fly when the client asks (never a ranged one, so offsets keep meaning NAR bytes).
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { decodeNodeText, planNar, type NarPlan, type Store } from '../../store/index.js';
import { NarEncoders } from '../nar-encoding.js';
import { parseRange } from '../range.js';
import { releasingBody } from '../releasing-body.js';

interface NarOptions {
  readonly store: Store;
  readonly maxEncoders?: number;
}

interface NarRequest {
  Params: { node: string };
  Querystring: { narsize?: number };
}

const NAR_SCHEMA = {
  params: { type: 'object', properties: { node: { type: 'string', maxLength: 8192 } }, required: ['node'] },
  querystring: { type: 'object', properties: { narsize: { type: 'integer', minimum: 0 } } },
} as const;
const NAR_CONFIG = { cachePolicy: 'immutable' } as const;

export async function narRoutes(app: FastifyInstance, { store, maxEncoders }: NarOptions): Promise<void> {
  const encoders = new NarEncoders(maxEncoders);
  const plan = async (node: string, narsize: number | undefined): Promise<NarPlan> => {
    const nar = await planNar(decodeNodeText(node), store);
    // The size is recomputed from the graph; a URL that disagrees was not made by us for this node.
    if (narsize !== undefined && narsize !== nar.narSize) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'narsize does not match this NAR');
    return nar;
  };
  const headers = (reply: FastifyReply, nar: NarPlan) =>
    reply.type('application/x-nix-nar').header('accept-ranges', 'bytes').header('vary', 'Accept-Encoding').header('content-length', String(nar.narSize));

  app.get<NarRequest>('/nar/tvix-castore/:node', { schema: NAR_SCHEMA, config: NAR_CONFIG, exposeHeadRoute: false }, async (request, reply) => {
    const nar = await plan(request.params.node, request.query.narsize);
    const range = parseRange(request.headers.range, nar.narSize);
    switch (range.kind) {
      case 'whole': {
        const coding = encoders.choose(request.headers['accept-encoding']);
        if (!coding) return headers(reply, nar).send(releasingBody(nar.stream(), reply.raw));
        headers(reply, nar).removeHeader('content-length').header('content-encoding', coding);
        return reply.send(encoders.encode(coding, Readable.from(nar.stream(), { objectMode: false })));
      }
      case 'unsatisfiable':
        return reply.code(416).header('content-range', `bytes */${nar.narSize}`).send();
      case 'range': {
        const { start, end } = range.range;
        return headers(reply, nar)
          .code(206)
          .header('content-range', `bytes ${start}-${end}/${nar.narSize}`)
          .header('content-length', String(end - start + 1))
          .send(releasingBody(nar.streamRange(range.range), reply.raw));
      }
    }
  });

  app.head<NarRequest>('/nar/tvix-castore/:node', { schema: NAR_SCHEMA, config: NAR_CONFIG }, async (request, reply) => {
    const nar = await plan(request.params.node, request.query.narsize);
    return headers(reply, nar).send();
  });
}
