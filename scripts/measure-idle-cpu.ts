/**
 * `npx tsx scripts/measure-idle-cpu.ts [URL]` — how much CPU an idle VM costs in Chromium.
 *
 * Serve the app first (`npm run build && npx vite preview`, default URL http://localhost:4173). This
 * launches Debian's Chromium with a private profile, measures the CPU time of all its processes over
 * 30 s with the app open and no VM running (the baseline), then boots a VM to its shell prompt and
 * measures 30 s more while the guest sits at the prompt. CPU time comes from /proc/<pid>/stat
 * (utime + stime) summed over the browser's process tree, so the figure includes the page, the GPU
 * process and the VM's worker.
 */
import { chromium } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processTable } from './lib/cpu-time.ts';
import { CHROMIUM_LAUNCH } from './lib/chromium.ts';

const url = process.argv[2] ?? 'http://localhost:4173';
const SAMPLE_MS = 30_000;
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU ticks used so far by the browser whose command line names `profile`, and all its descendants. */
function browserTicks(profile: string): number {
  const table = processTable();
  const roots = [...table].filter(
    ([, p]) => p.cmdline.includes(profile) && !table.get(p.ppid)?.cmdline.includes(profile),
  );
  const members = new Set(roots.map(([pid]) => pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of table) {
      if (!members.has(pid) && members.has(p.ppid)) {
        members.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of members) ticks += table.get(pid)!.ticks;
  return ticks;
}

async function sample(profile: string): Promise<number> {
  const before = browserTicks(profile);
  const start = performance.now();
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  const seconds = (performance.now() - start) / 1000;
  return ((browserTicks(profile) - before) / CLOCK_TICKS / seconds) * 100;
}

const profile = mkdtempSync(join(tmpdir(), 'tabvm-idle-cpu-'));
const context = await chromium.launchPersistentContext(profile, {
  ...CHROMIUM_LAUNCH,
  viewport: { width: 1280, height: 800 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  const mode = await page.getByTestId('mode').innerText();
  await page.getByRole('button', { name: 'New VM' }).first().click();
  await page.getByLabel('Name').fill(`idle-${Date.now()}`);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForTimeout(2000);
  const baseline = await sample(profile);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page
    .locator('.xterm-rows')
    .filter({ hasText: /built-in commands[\s\S]*# / })
    .waitFor({ timeout: 120_000 });
  await page.waitForTimeout(5000); // let the boot's last work (and the kernel's deferred jobs) finish
  const idle = await sample(profile);
  console.log(`mode: ${mode}`);
  console.log(`browser with the app open, no VM running: ${baseline.toFixed(1)} % of one core`);
  console.log(`browser with one VM idle at its prompt:   ${idle.toFixed(1)} % of one core`);
} finally {
  await context.close();
}
