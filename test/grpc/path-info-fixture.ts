// A PathInfo with every field set (narinfo, signatures, deriver, CA), shared by the gRPC tests.
import { B3Digest } from '../../src/castore/index.js';
import { NixHash, Signature, StorePath, parseContentAddress } from '../../src/nix/index.js';
import type { PathInfo } from '../../src/store/index.js';

export const INFO: PathInfo = {
  storePath: StorePath.parseBasename('2r4c0iwl695hgsdxkablgafiz6pkkam6-y'),
  // complicated.nar's root (test/fixtures/tvix/README.md)
  node: { kind: 'directory', digest: B3Digest.fromHex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a'), size: 4 },
  references: [StorePath.parseBasename('rpb1a2bv7v16z4p0x9f9y2p7b0am8s6m-deptree'), StorePath.parseBasename('x96hvirq193g8zpxanfdkgkxys1bji78-dep.txt')],
  narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
  narSize: 840,
  signatures: [Signature.parse('test-1:3sPEu31v4Ej8vZ0nsM5YDXT715nTXs7KJRDnT0IBdWfW1BzaaY4/OkXwEAVhum60GdF35Q3pLXo1RVWQJStjCg==')],
  deriver: StorePath.parseBasename('y571mflw99fpzl0z4hhrmjzxlzsi0gr1-y.drv'),
  ca: parseContentAddress('fixed:r:sha256:00zns3gj9hwz2a4b0i07y7nmxybq59lh24bl3xsxblcl6333mjil'),
};
