import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    fileParallelism: false, // e2e files share one sandbox; unit files are quick anyway
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 120000,
          hookTimeout: 120000,
        },
      },
    ],
  },
});
