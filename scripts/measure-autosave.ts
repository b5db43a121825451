/**
 * `npx tsx scripts/measure-autosave.ts URL [MINUTES]` (a `vite preview` of a build serving URL; default 10
 * minutes): in Debian's Chromium, creates a VM of the default image, lets it idle at its prompt for 30 s
 * (its MIPS and how many automatic snapshots the idle guest gets), then runs a busy guest for MINUTES
 * (each second: a file rewritten, 64 KiB of random data written, a line printed) and samples every 10 s
 * what the automatic snapshots cost (the guest's pause, and until stored) and what the browser stores
 * (the snapshot records' bytes, and navigator.storage.estimate()). A measurement, not a test: it asserts
 * nothing (docs/snapshots.md, "Nothing lost").
 */
import { chromium, type Page } from '@playwright/test';

const url = process.argv[2] ?? 'http://localhost:4320';
const minutes = Number(process.argv[3] ?? 10);
const NAME = 'measure';

async function stored(page: Page): Promise<{ records: number; auto: number; bytes: number; usage: number }> {
  return page.evaluate(async () => {
    const open = indexedDB.open('tabvm-snapshots');
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    // Keys and values from one transaction, so that they pair up while saves go on.
    const files = db.transaction('files').objectStore('files');
    const keys = files.getAllKeys();
    const values = files.getAll();
    const names = await new Promise<IDBValidKey[]>((resolve) => (keys.onsuccess = () => resolve(keys.result)));
    const all = await new Promise<unknown[]>((resolve) => (values.onsuccess = () => resolve(values.result)));
    db.close();
    const records = names
      .map((key, i) => [String(key), all[i]] as const)
      .filter(([key]) => key.startsWith('snap:'))
      .map(([, value]) => value as { size: number; kind: string });
    const estimate = await navigator.storage.estimate();
    return {
      records: records.length,
      auto: records.filter((r) => r.kind === 'auto').length,
      bytes: records.reduce((sum, r) => sum + r.size, 0),
      usage: estimate.usage ?? 0,
    };
  });
}

async function capture(page: Page): Promise<{ savedAt: number; pausedMs: number; storedMs: number }> {
  const status = page.getByTestId('autosave-status');
  return {
    savedAt: Number((await status.getAttribute('data-saved-at')) || 0),
    pausedMs: Number((await status.getAttribute('data-paused-ms')) || 0),
    storedMs: Number((await status.getAttribute('data-stored-ms')) || 0),
  };
}

async function mips(page: Page): Promise<number> {
  const text = await page.getByTestId(`vm-item-${NAME}`).innerText();
  return Number(/([\d.]+) MIPS/.exec(text)?.[1] ?? NaN);
}

const quantiles = (values: number[]): string => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return sorted.length === 0
    ? 'none'
    : `median ${at(0.5).toFixed(0)}, p90 ${at(0.9).toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)} (n=${sorted.length})`;
};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(url);
await page.getByRole('button', { name: 'New VM' }).first().click();
const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
await dialog.getByLabel('Name').fill(NAME);
await dialog.getByRole('button', { name: 'Create' }).click();
await page
  .getByRole('toolbar', { name: `Controls for ${NAME}` })
  .getByRole('button', { name: 'Start' })
  .click();
const rows = page.getByTestId(`console-${NAME}`).locator('.xterm-rows');
await rows.getByText('root@tabvm').first().waitFor({ timeout: 300_000 });
await page.waitForTimeout(10_000);

// Idle: the guest at its prompt.
const idleFrom = await capture(page);
const idleMips: number[] = [];
for (let i = 0; i < 30; i++) {
  await page.waitForTimeout(1000);
  idleMips.push(await mips(page));
}
const idleTo = await capture(page);
console.log(
  `idle 30 s: MIPS ${quantiles(idleMips.map((m) => m * 1000))} (thousandths); automatic snapshot renewed: ${idleTo.savedAt !== idleFrom.savedAt}`,
);

await page.getByTestId(`console-${NAME}`).click();
await page.keyboard.type(
  'i=0; while true; do i=$((i+1)); echo v$i > /root/note; dd if=/dev/urandom of=/tmp/blob bs=4k count=16 2>/dev/null; echo note=$i; sleep 1; done',
);
await page.keyboard.press('Enter');

const paused: number[] = [];
const storedMs: number[] = [];
const busyMips: number[] = [];
let last = 0;
const end = Date.now() + minutes * 60_000;
let nextSample = Date.now();
console.log('elapsed s, snapshot records (automatic), stored bytes, storage estimate bytes');
const started = Date.now();
while (Date.now() < end) {
  const now = await capture(page);
  if (now.savedAt !== last) {
    last = now.savedAt;
    paused.push(now.pausedMs);
    storedMs.push(now.storedMs);
  }
  busyMips.push(await mips(page));
  if (Date.now() >= nextSample) {
    const s = await stored(page);
    console.log(`${Math.round((Date.now() - started) / 1000)}, ${s.records} (${s.auto}), ${s.bytes}, ${s.usage}`);
    nextSample += 10_000;
  }
  await page.waitForTimeout(500);
}
console.log(`busy: MIPS ${quantiles(busyMips)}`);
console.log(`automatic snapshot, guest paused ms: ${quantiles(paused)}`);
console.log(`automatic snapshot, until stored ms: ${quantiles(storedMs)}`);
await browser.close();
