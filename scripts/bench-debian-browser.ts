/**
 * `npm run bench:debian-browser [-- --runs N --port P]`: Debian in Chromium (/usr/bin/chromium),
 * as a person starts it in the app: **Start** → the prompt on the console, for a new Debian VM that
 * starts from the image's pre-booted snapshot (on a first visit: a fresh browser profile; and cached: a
 * second VM in the same profile) and, for comparison, one that boots cold (257 MiB of RAM, for which the
 * image has no snapshot). Also the bytes the page and its workers received between Start and the prompt.
 * Serves dist/ with `vite preview` (run `npx vite build` first). A benchmark, not a test: it asserts
 * nothing about speed. Rounds alternate the cases; each figure is the median.
 */
import { Command } from 'commander';
import type { BrowserContext, Page, Request } from '@playwright/test';
import { hostLine, median } from './lib/bench-common.ts';
import { openPreview } from './lib/chromium-bench.ts';
import { consoleOf, createVm, DEBIAN, startVm } from '../e2e/helpers.ts';

const { runs, port } = new Command()
  .option('--runs <n>', 'rounds; each figure is the median', (v) => Number.parseInt(v, 10), 3)
  .option('--port <p>', 'port for vite preview', (v) => Number.parseInt(v, 10), 4362)
  .parse()
  .opts<{ runs: number; port: number }>();
const PROMPT_TIMEOUT_MS = 600_000;
const COLD_RAM_MIB = 257;

interface Start {
  readonly seconds: number;
  readonly bytes: number;
}

/** Bytes of every response the context's pages and workers finished receiving while `work` ran. */
async function countingBytes(context: BrowserContext, work: () => Promise<number>): Promise<Start> {
  let bytes = 0;
  const pending: Promise<void>[] = [];
  const onFinished = (request: Request): void => {
    pending.push(
      request.sizes().then(
        (sizes) => void (bytes += sizes.responseBodySize),
        () => undefined,
      ),
    );
  };
  context.on('requestfinished', onFinished);
  try {
    const seconds = await work();
    await Promise.all(pending);
    return { seconds, bytes };
  } finally {
    context.off('requestfinished', onFinished);
  }
}

/** Creates a Debian VM, presses Start and returns the seconds until its prompt shows. */
async function startToPrompt(page: Page, name: string, ramMiB?: number): Promise<number> {
  await createVm(page, name, ramMiB, DEBIAN);
  const started = performance.now();
  await startVm(page, name);
  await consoleOf(page, name)
    .locator('.xterm-rows', { hasText: 'root@debian:~# ' })
    .waitFor({ timeout: PROMPT_TIMEOUT_MS });
  const seconds = (performance.now() - started) / 1000;
  await page
    .getByRole('toolbar', { name: `Controls for ${name}` })
    .getByRole('button', { name: 'Power off' })
    .click();
  return seconds;
}

const { url, browser, close } = await openPreview(port);
const cases = { first: [] as Start[], cached: [] as Start[], cold: [] as Start[] };
try {
  console.log(hostLine('tabvm Debian start in Chromium'));
  for (let round = 0; round < runs; round++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(url);
    cases.first.push(await countingBytes(context, () => startToPrompt(page, `first${round}`)));
    cases.cached.push(await countingBytes(context, () => startToPrompt(page, `cached${round}`)));
    cases.cold.push(await countingBytes(context, () => startToPrompt(page, `cold${round}`, COLD_RAM_MIB)));
    await context.close();
    console.log(
      `round ${round + 1}: ${JSON.stringify(cases, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(2)) : v))}`,
    );
  }
} finally {
  await close();
}

const row = (what: string, starts: Start[]): string =>
  `| ${what} | ${median(starts.map((s) => s.seconds)).toFixed(2)} (${starts.map((s) => s.seconds.toFixed(1)).join(', ')}) | ` +
  `${(median(starts.map((s) => s.bytes)) / 2 ** 20).toFixed(1)} |`;
console.log(`\n${runs} rounds; medians (each round's figure in brackets).\n`);
console.log('| Start → prompt | seconds | MiB received |');
console.log('|---|---:|---:|');
console.log(row('from the snapshot, first visit (fresh profile)', cases.first));
console.log(row('from the snapshot, images cached (second VM)', cases.cached));
console.log(row(`cold boot, images cached (${COLD_RAM_MIB} MiB: no snapshot)`, cases.cold));
process.exit(0);
