import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // onnxruntime-node and large models: keep memory in check on the 2-core CI machine.
    pool: 'forks',
    globalSetup: ['./test/setup/build.ts'],
    reporters: ['default', './test/reporters/summary-line.ts'],
  },
});
