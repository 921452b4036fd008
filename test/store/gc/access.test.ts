// Access times are a retention hint: a batch that cannot be written (a full disk) is reported and kept, never thrown.
import { expect, it } from 'vitest';
import { AccessRecorder, type GcTables } from '../../../src/store/index.js';

it('keeps a batch it could not write, reports the failure, and writes it on the next flush', () => {
  const written: Array<Map<string, number>> = [];
  let full = true;
  const tables = {
    recordAccess(batch: Map<string, number>) {
      if (full) throw new Error('SQLITE_FULL: database or disk is full');
      written.push(new Map(batch));
    },
  } as unknown as GcTables;
  const failures: unknown[] = [];
  let now = 1000;
  const recorder = new AccessRecorder(
    tables,
    (err) => failures.push(err),
    () => now,
  );
  recorder.accessed(new Uint8Array(20).fill(1));
  expect(() => recorder.flush()).not.toThrow();
  expect(failures).toHaveLength(1);
  full = false;
  now = 2000;
  recorder.accessed(new Uint8Array(20).fill(2));
  recorder.close();
  expect(written).toHaveLength(1);
  expect([...(written[0]?.values() ?? [])].sort()).toEqual([1000, 2000]);
});
