/**
 * What the benchmarks that run in Chromium share (`npm run bench -- --browser`, `npm run bench:debian-browser`):
 * the built app (dist/, `npx vite build` first) served by `vite preview`, which sends COOP/COEP so the
 * pages are cross-origin isolated, and Debian's Chromium (/usr/bin/chromium) driven by Playwright.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { repoRoot } from './in-process.ts';
import { CHROMIUM_LAUNCH } from './chromium.ts';

export interface PreviewBrowser {
  /** The app's address, ending in `/`. */
  readonly url: string;
  readonly browser: Browser;
  /** Closes the browser and stops the server. */
  close(): Promise<void>;
}

/** Serves dist/ on `port` and launches Chromium; resolves once the server answers. */
export async function openPreview(port: number): Promise<PreviewBrowser> {
  if (!existsSync(resolve(repoRoot, 'dist/index.html')))
    throw new Error('no dist/index.html: run `npx vite build` first');
  // vite itself, not through npx, so that kill() stops the server and not only a wrapper.
  const vite = resolve(repoRoot, 'node_modules/vite/bin/vite.js');
  const server = spawn(process.execPath, [vite, 'preview', '--port', String(port), '--strictPort'], {
    cwd: repoRoot,
    stdio: 'ignore',
  });
  const url = `http://localhost:${port}/`;
  let browser: Browser | undefined;
  try {
    for (let tries = 0; ; tries++) {
      try {
        await fetch(url);
        break;
      } catch (error) {
        if (tries > 100 || server.exitCode !== null)
          throw new Error(`vite preview did not answer on ${url}`, { cause: error });
        await new Promise((done) => setTimeout(done, 200));
      }
    }
    browser = await chromium.launch(CHROMIUM_LAUNCH);
  } catch (error) {
    server.kill();
    throw error;
  }
  const opened = browser;
  return {
    url,
    browser: opened,
    async close() {
      await opened.close();
      server.kill();
    },
  };
}
