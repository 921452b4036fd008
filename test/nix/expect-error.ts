// Test helper: asserts that a call throws a NarBridgeError with a given code, and returns its message.
import { expect } from 'vitest';
import { type ErrorCode, NarBridgeError } from '../../src/errors.js';

export function expectNarBridgeError(code: ErrorCode, run: () => unknown): string {
  let thrown: unknown;
  try {
    run();
  } catch (err) {
    thrown = err;
  }
  expect(NarBridgeError.is(thrown), 'expected a NarBridgeError').toBe(true);
  if (!NarBridgeError.is(thrown)) return '';
  expect(thrown.code).toBe(code);
  return thrown.message;
}
