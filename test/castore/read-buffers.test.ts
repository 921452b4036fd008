// The read buffer pool: a buffer comes back for reuse once its reader dropped it and every view lent was handed back.
import { describe, expect, it } from 'vitest';
import { ReadBufferPool } from '../../src/castore/index.js';

describe('ReadBufferPool', () => {
  it('reuses a buffer once the reader dropped it and its lent views came back', () => {
    const pool = new ReadBufferPool(1024, 4);
    const lease = pool.take(1024);
    const view = pool.lend(lease, lease.buffer.subarray(0, 10));
    pool.drop(lease);
    expect(pool.take(1024).buffer).not.toBe(lease.buffer); // a view is still out
    pool.release(view);
    expect(pool.take(1024).buffer).toBe(lease.buffer);
  });

  it('does not pin a lease for a view of other memory, which could never be handed back', () => {
    const pool = new ReadBufferPool(1024, 4);
    const lease = pool.take(1024);
    const elsewhere = pool.lend(lease, Buffer.alloc(10));
    pool.release(elsewhere);
    pool.drop(lease);
    expect(pool.take(1024).buffer).toBe(lease.buffer);
  });
});
