import { defineConfig } from '@playwright/test';

// Playwright drives Debian's Chromium (browsers cannot be downloaded here; .ci/run installs `chromium`).
// Two servers over the same build: 4173 sends COOP/COEP (cross-origin isolated, shared memory), 4174
// sends neither (the fallback mode). One worker: each VM keeps a CPU core busy while it boots.
export const ISOLATED_URL = 'http://localhost:4173';
export const FALLBACK_URL = 'http://localhost:4174';

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: ISOLATED_URL,
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: [
    { command: 'npx vite preview --port 4173 --strictPort', url: ISOLATED_URL, reuseExistingServer: !process.env.CI, stdout: 'ignore' },
    {
      command: 'npx vite preview --port 4174 --strictPort',
      url: FALLBACK_URL,
      env: { TABVM_NO_ISOLATION: '1' },
      reuseExistingServer: !process.env.CI,
      stdout: 'ignore',
    },
  ],
});
