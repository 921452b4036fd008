// --grpc-client-token-file: the token file every grpc+… service URL presents unless it names its own.
import { expect, it } from 'vitest';
import { withDefaultTokenFile } from '../../src/cli/service-overrides.js';

it.each([
  ['grpc+http://h:1', '/t', 'grpc+http://h:1?token-file=%2Ft'],
  ['grpc+https://h:1?ca-file=/ca.pem', '/t', 'grpc+https://h:1?ca-file=%2Fca.pem&token-file=%2Ft'],
  ['grpc+unix:///run/s.sock', '/t', 'grpc+unix:///run/s.sock?token-file=%2Ft'],
  ['grpc+http://h:1?token-file=/own', '/t', 'grpc+http://h:1?token-file=%2Fown'],
  ['memory://', '/t', 'memory://'],
  ['local:///d', '/t', 'local:///d'],
  ['grpc+http://h:1', null, 'grpc+http://h:1'],
])('%s with %s → %s', (raw, tokenFile, expected) => {
  const [got, want] = [new URL(withDefaultTokenFile(raw, tokenFile)), new URL(expected)];
  expect(`${got.protocol}//${got.host}${got.pathname}`).toBe(`${want.protocol}//${want.host}${want.pathname}`);
  expect([...got.searchParams].sort()).toEqual([...want.searchParams].sort());
});
