// The two "not found" checks mean different things: a missing file (errno ENOENT) vs a NarBridgeError miss.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isNotFound } from '../src/castore/index.js';
import { isEnoent, NarBridgeError } from '../src/errors.js';

const fsError = (path: string) =>
  readFile(path).then(
    () => null,
    (err: unknown) => err,
  );

describe('isEnoent', () => {
  it('is true for a missing file only', async () => {
    expect(isEnoent(await fsError('/nonexistent/nar-bridge-test'))).toBe(true);
    expect(isEnoent(await fsError('/'))).toBe(false); // EISDIR
    expect(isEnoent(new NarBridgeError('NB_ERR_NOT_FOUND', 'no such path'))).toBe(false);
    expect(isEnoent('ENOENT')).toBe(false);
  });
});

describe('isNotFound', () => {
  it('is true for a NarBridgeError NB_ERR_NOT_FOUND (what a peer NOT_FOUND becomes) only', async () => {
    expect(isNotFound(new NarBridgeError('NB_ERR_NOT_FOUND', 'no such path'))).toBe(true);
    expect(isNotFound(new NarBridgeError('NB_ERR_MISSING_OBJECT', 'blob missing'))).toBe(false);
    expect(isNotFound(await fsError('/nonexistent/nar-bridge-test'))).toBe(false);
  });
});
