// The tvix store gRPC methods (tvix.store.v1 PathInfoService) as MethodSpecs; PathInfos travel as our model.
import { decodeRootNode, encodeRootNode, protoCodec, type Codec, type MethodSpec, type Node } from '../../castore/index.js';
import { tvix } from '../../proto/index.js';
import type { PathInfo } from '../path-info.js';
import { decodePathInfo, encodePathInfo } from '../wire.js';

const v1 = tvix.store.v1;
type GetPathInfoRequest = tvix.store.v1.GetPathInfoRequest.$Properties;
type ListPathInfoRequest = tvix.store.v1.ListPathInfoRequest.$Properties;
type CalculateNarResponse = tvix.store.v1.CalculateNARResponse.$Properties;

/** A root node as CalculateNAR takes it; the name is carried along but plays no part in the NAR. */
interface NamedNode {
  readonly name: Uint8Array;
  readonly node: Node;
}

const PATH_INFO: Codec<PathInfo> = { encode: encodePathInfo, decode: decodePathInfo };
const ROOT_NODE: Codec<NamedNode> = { encode: ({ name, node }) => encodeRootNode(name, node), decode: decodeRootNode };

const SERVICE = '/tvix.store.v1.PathInfoService';
export const PATH_INFO_METHODS = {
  get: {
    path: `${SERVICE}/Get`,
    requestStream: false,
    responseStream: false,
    request: protoCodec<GetPathInfoRequest>(v1.GetPathInfoRequest),
    response: PATH_INFO,
  } satisfies MethodSpec<GetPathInfoRequest, PathInfo>,
  put: {
    path: `${SERVICE}/Put`,
    requestStream: false,
    responseStream: false,
    request: PATH_INFO,
    response: PATH_INFO,
  } satisfies MethodSpec<PathInfo, PathInfo>,
  calculateNar: {
    path: `${SERVICE}/CalculateNAR`,
    requestStream: false,
    responseStream: false,
    request: ROOT_NODE,
    response: protoCodec<CalculateNarResponse>(v1.CalculateNARResponse),
  } satisfies MethodSpec<NamedNode, CalculateNarResponse>,
  list: {
    path: `${SERVICE}/List`,
    requestStream: false,
    responseStream: true,
    request: protoCodec<ListPathInfoRequest>(v1.ListPathInfoRequest),
    response: PATH_INFO,
  } satisfies MethodSpec<ListPathInfoRequest, PathInfo>,
} as const;
