// The tvix castore gRPC methods (tvix.castore.v1 BlobService and DirectoryService) as MethodSpecs.
import { tvix } from '../../proto/index.js';
import type { Directory } from '../directory.js';
import { decodeDirectory, encodeDirectory } from '../wire.js';
import { protoCodec, type Codec, type MethodSpec } from './method.js';

const v1 = tvix.castore.v1;
type StatBlobRequest = tvix.castore.v1.StatBlobRequest.$Properties;
type StatBlobResponse = tvix.castore.v1.StatBlobResponse.$Properties;
type ReadBlobRequest = tvix.castore.v1.ReadBlobRequest.$Properties;
export type BlobChunk = tvix.castore.v1.BlobChunk.$Properties;
export type PutBlobResponse = tvix.castore.v1.PutBlobResponse.$Properties;
type GetDirectoryRequest = tvix.castore.v1.GetDirectoryRequest.$Properties;
export type PutDirectoryResponse = tvix.castore.v1.PutDirectoryResponse.$Properties;

/** Directories travel in their canonical encoding and arrive validated, so digests always agree across peers. */
const DIRECTORY: Codec<Directory> = { encode: encodeDirectory, decode: decodeDirectory };

const BLOB = '/tvix.castore.v1.BlobService';
export const BLOB_METHODS = {
  stat: {
    path: `${BLOB}/Stat`,
    lean: true,
    requestStream: false,
    responseStream: false,
    request: protoCodec<StatBlobRequest>(v1.StatBlobRequest),
    response: protoCodec<StatBlobResponse>(v1.StatBlobResponse),
  } satisfies MethodSpec<StatBlobRequest, StatBlobResponse>,
  read: {
    path: `${BLOB}/Read`,
    lean: true,
    requestStream: false,
    responseStream: true,
    request: protoCodec<ReadBlobRequest>(v1.ReadBlobRequest),
    response: protoCodec<BlobChunk>(v1.BlobChunk),
  } satisfies MethodSpec<ReadBlobRequest, BlobChunk>,
  put: {
    path: `${BLOB}/Put`,
    requestStream: true,
    responseStream: false,
    request: protoCodec<BlobChunk>(v1.BlobChunk),
    response: protoCodec<PutBlobResponse>(v1.PutBlobResponse),
  } satisfies MethodSpec<BlobChunk, PutBlobResponse>,
} as const;

const DIRECTORY_SERVICE = '/tvix.castore.v1.DirectoryService';
export const DIRECTORY_METHODS = {
  get: {
    path: `${DIRECTORY_SERVICE}/Get`,
    lean: true,
    requestStream: false,
    responseStream: true,
    request: protoCodec<GetDirectoryRequest>(v1.GetDirectoryRequest),
    response: DIRECTORY,
  } satisfies MethodSpec<GetDirectoryRequest, Directory>,
  put: {
    path: `${DIRECTORY_SERVICE}/Put`,
    requestStream: true,
    responseStream: false,
    request: DIRECTORY,
    response: protoCodec<PutDirectoryResponse>(v1.PutDirectoryResponse),
  } satisfies MethodSpec<Directory, PutDirectoryResponse>,
} as const;
