// Which --grpc-listen addresses count as local (no access-control warning), after parsing.
import { describe, expect, it } from 'vitest';
import { isLocalGrpcAddress, parseGrpcListenAddress } from '../../src/cli/grpc-listen-address.js';

describe('isLocalGrpcAddress', () => {
  it.each([
    ['127.0.0.1:9001', true],
    ['127.1.2.3:9001', true],
    ['localhost:9001', true],
    ['[::1]:9001', true],
    ['unix:/run/nar-bridge/grpc.sock', true],
    ['0.0.0.0:9001', false],
    ['[::]:9001', false],
    ['10.0.0.2:9001', false],
    ['cache.example.org:9001', false],
  ])('%s → %s', (flag, local) => {
    expect(isLocalGrpcAddress(parseGrpcListenAddress(flag))).toBe(local);
  });
});
