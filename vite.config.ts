import { defineConfig } from 'vite';

export default defineConfig({
  test: {
    include: ['workers/**/*.test.ts', 'scripts/**/*.test.ts', 'src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 20_000,
  },
});
