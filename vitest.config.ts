import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e suites start real servers and real Nix; two cores, so keep files parallel but bounded
    maxWorkers: 2,
  },
});
