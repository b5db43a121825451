import { defineConfig } from '@playwright/test';
import { CHROMIUM_LAUNCH } from './scripts/lib/chromium.ts';

// Playwright drives Debian's Chromium (browsers cannot be downloaded here; .ci/run installs `chromium`).
// Two servers over the same build: 4173 sends COOP/COEP (cross-origin isolated, shared memory), 4174
// sends neither (the fallback mode). One worker: each VM keeps a CPU core busy while it boots.
// TABVM_E2E_PORT moves both (to it and the next port), so two checkouts can run their e2e tests at once.
const ISOLATED_PORT = Number(process.env.TABVM_E2E_PORT ?? 4173);
const FALLBACK_PORT = ISOLATED_PORT + 1;
export const ISOLATED_URL = `http://localhost:${ISOLATED_PORT}`;
export const FALLBACK_URL = `http://localhost:${FALLBACK_PORT}`;

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
    launchOptions: CHROMIUM_LAUNCH,
  },
  webServer: [
    {
      command: `npx vite preview --port ${ISOLATED_PORT} --strictPort`,
      url: ISOLATED_URL,
      reuseExistingServer: !process.env.CI,
      stdout: 'ignore',
    },
    {
      command: `npx vite preview --port ${FALLBACK_PORT} --strictPort`,
      url: FALLBACK_URL,
      env: { TABVM_NO_ISOLATION: '1' },
      reuseExistingServer: !process.env.CI,
      stdout: 'ignore',
    },
  ],
});
