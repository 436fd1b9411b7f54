import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    fileParallelism: false, // e2e files share one sandbox; unit files are quick anyway
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        // Against a real etcd that each file starts on loopback (Debian's etcd 3.4 on the PATH).
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60000,
          hookTimeout: 30000,
        },
      },
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
