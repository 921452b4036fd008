// GrpcPathInfoService: a PathInfoService backed by a remote tvix PathInfoService.
import type { StorePathDigest } from '../../nix/index.js';
import { isNotFound, uint64ToNumber, type CallOptions, type GrpcConnection, type Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { PATH_INFO_METHODS } from './grpc-methods.js';
import type { NarFacts } from '../nar/calculator.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';

const NO_NAME = new Uint8Array(0);
const SHA256_BYTES = 32;

export class GrpcPathInfoService implements PathInfoService {
  constructor(private readonly connection: GrpcConnection) {}

  async get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    try {
      const info = await this.connection.unary(PATH_INFO_METHODS.get, { byOutputHash: digest }, opts);
      if (!Buffer.from(info.storePath.digest).equals(digest)) {
        throw new NarBridgeError('NB_ERR_UPSTREAM', `PathInfoService peer answered with ${info.storePath.basename}`);
      }
      return info;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** The peer refuses (FAILED_PRECONDITION → NB_ERR_MISSING_OBJECT) a PathInfo whose objects it lacks. */
  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.connection.unary(PATH_INFO_METHODS.put, info, opts);
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.connection.serverStream(PATH_INFO_METHODS.list, {}, opts);
  }

  /** The peer's CalculateNAR: NarSize and NAR sha256 of `node`, which it must hold in full. */
  async calculateNar(node: Node, opts?: CallOptions): Promise<NarFacts> {
    const answer = await this.connection.unary(PATH_INFO_METHODS.calculateNar, { name: NO_NAME, node }, opts);
    const narSha256 = answer.narSha256 ?? new Uint8Array(0);
    if (narSha256.byteLength !== SHA256_BYTES) throw new NarBridgeError('NB_ERR_UPSTREAM', 'CalculateNAR peer sent a bad sha256');
    return { narSize: uint64ToNumber(answer.narSize, 'NAR size'), narSha256 };
  }
}
