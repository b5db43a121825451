/**
 * Boot progress (a download progress bar, then the boot log), copy and paste with Ctrl+Shift+C / Ctrl+Shift+V,
 * and a console that fits its pane and follows window resizes. Cross-origin isolated page.
 */
import { test, expect, type Page, type Route } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { ISOLATED_URL } from '../playwright.config.ts';
import { consoleOf, createVm, phaseOf, startVm, waitForPrompt } from './helpers.ts';

interface ManifestFile {
  path: string;
  size: number;
  /** The gzip variant the page fetches instead (the built app's manifest has one for the kernel). */
  gzip?: { path: string };
}
/** The manifest as the app serves it: the built copy, with its gzip variants. */
const manifest = JSON.parse(readFileSync('dist/images/default/manifest.json', 'utf8')) as {
  files: { bios: ManifestFile; kernel: ManifestFile; initrd: ManifestFile };
};
const { bios, kernel, initrd } = manifest.files;
const total = bios.size + kernel.size + initrd.size;
/** The label's unit, written out here rather than imported so a change to the app's wording shows. */
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
});

/** Holds requests for one image file until release() is called; the test decides when bytes arrive. */
async function holdFile(page: Page, path: string): Promise<{ requested: Promise<void>; release: () => void }> {
  let release!: () => void;
  let markRequested!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const requested = new Promise<void>((resolve) => (markRequested = resolve));
  await page.route(`**/images/default/${path}`, async (route: Route) => {
    markRequested();
    await released;
    await route.continue();
  });
  return { requested, release };
}

test('the image download shows a progress bar in bytes of the total, then the boot log', async ({ page }) => {
  const heldKernel = await holdFile(page, kernel.gzip?.path ?? kernel.path);
  const heldInitrd = await holdFile(page, initrd.gzip?.path ?? initrd.path);
  await createVm(page, 'slow');
  await startVm(page, 'slow');
  const rows = consoleOf(page, 'slow').locator('.xterm-rows');

  // The firmware has arrived, the kernel is on its way: the bar stands at the firmware's bytes of all three.
  await heldKernel.requested;
  const bar = page.getByRole('progressbar', { name: `Downloading the image: ${mib(bios.size)} of ${mib(total)}` });
  await expect(bar).toBeVisible();
  await expect(bar).toHaveJSProperty('max', total);
  await expect(bar).toHaveJSProperty('value', bios.size);
  await expect(phaseOf(page, 'slow')).toHaveAttribute('data-phase', 'downloading');
  await expect(page.getByTestId('vm-state')).toHaveText('Downloading');

  // The kernel arrives: the bar moves on to firmware + kernel and waits for the initramfs.
  heldKernel.release();
  await heldInitrd.requested;
  const later = page.getByRole('progressbar', {
    name: `Downloading the image: ${mib(bios.size + kernel.size)} of ${mib(total)}`,
  });
  await expect(later).toBeVisible();
  await expect(later).toHaveJSProperty('value', bios.size + kernel.size);
  // Nothing has booted while the image is incomplete.
  expect(await rows.innerText()).not.toMatch(/OpenSBI|Linux version/);
  await page.screenshot({ path: 'e2e/screenshots/11-download-progress.png' });

  heldInitrd.release();
  await expect(page.getByRole('progressbar')).toHaveCount(0);
  // The boot log follows (OpenSBI's banner and the first kernel lines scroll out of view quickly; these stay).
  await expect(rows).toContainText(/\[\s*\d+\.\d{6}\] Run \/init as init process/);
  await waitForPrompt(page, 'slow');
  await expect(phaseOf(page, 'slow')).toHaveAttribute('data-phase', 'running');
});

const readClipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());
const writeClipboard = (page: Page, text: string) => page.evaluate((t) => navigator.clipboard.writeText(t), text);

test('Ctrl+Shift+C copies the terminal selection and sends nothing to the guest', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ISOLATED_URL });
  await createVm(page, 'copy');
  await startVm(page, 'copy');
  await waitForPrompt(page, 'copy');
  const rows = consoleOf(page, 'copy').locator('.xterm-rows');
  await page.keyboard.type('echo copy-$((40+2))');
  await page.keyboard.press('Enter');
  const output = rows.locator(':scope > div').filter({ hasText: /^copy-42\s*$/ });
  await expect(output).toHaveCount(1);

  // Select the output word with a double click, then copy it over whatever the clipboard held.
  await writeClipboard(page, 'stale');
  const box = (await output.boundingBox())!;
  await page.mouse.dblclick(box.x + 8, box.y + box.height / 2);
  await page.keyboard.press('Control+Shift+C');
  await expect.poll(() => readClipboard(page)).toBe('copy-42');

  // A ^C would show and abandon the line: the shell still answers the next command normally.
  await page.keyboard.type('echo after-$((2+3))');
  await page.keyboard.press('Enter');
  await expect(rows.locator(':scope > div').filter({ hasText: /^after-5\s*$/ })).toHaveCount(1);
  expect(await rows.innerText()).not.toContain('^C');
});

test('Ctrl+Shift+V pastes the clipboard into the guest once', async ({ page, context }) => {
  // The addon must prevent the browser's own paste, or the guest receives the text twice.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ISOLATED_URL });
  await createVm(page, 'paste');
  await startVm(page, 'paste');
  await waitForPrompt(page, 'paste');
  const rows = consoleOf(page, 'paste').locator('.xterm-rows');
  const row = (pattern: RegExp) => rows.locator(':scope > div').filter({ hasText: pattern });

  await writeClipboard(page, 'echo paste-$((40+2))');
  await page.keyboard.press('Control+Shift+V');
  // The guest echoes what it received; only the shell's arithmetic turns it into 42.
  await expect(row(/echo paste-\$\(\(40\+2\)\)/)).toHaveCount(1);
  // The clipboard read is asynchronous: give a second paste, if any, time to arrive before Enter.
  await page.waitForTimeout(1000);
  await page.keyboard.press('Enter');
  await expect(row(/^paste-42\s*$/)).toHaveCount(1, { timeout: 10_000 });
  await expect(row(/^root@tabvm:~# echo paste-\$\(\(40\+2\)\)\s*$/)).toHaveCount(1, { timeout: 10_000 });
  await page.waitForTimeout(1000);
  // Nothing more arrived after Enter: the new prompt is empty.
  const texts = (await rows.locator(':scope > div').allInnerTexts())
    .map((t) => t.replace(/[\s\u00a0]+$/, ''))
    .filter(Boolean);
  expect(texts.at(-1)).toBe('root@tabvm:~#');
});

/**
 * The terminal's size as the user sees it: the guest prints `count` copies of `letter` on one line and the
 * terminal wraps it; the widest all-`letter` row is the column count. Also the visible row count.
 */
async function terminalSize(
  page: Page,
  name: string,
  letter: string,
  count = 400,
): Promise<{ cols: number; rows: number }> {
  const rows = consoleOf(page, name).locator('.xterm-rows');
  await page.keyboard.type(`printf '%0${count}d\\n' 0 | tr 0 ${letter}`);
  await page.keyboard.press('Enter');
  const runs = async () =>
    (await rows.locator(':scope > div').allInnerTexts())
      .map((text) => text.replace(/[\s\u00a0]+$/, ''))
      .filter((text) => text.length > 0 && [...text].every((c) => c === letter))
      .map((text) => text.length);
  await expect.poll(async () => (await runs()).reduce((a, b) => a + b, 0)).toBe(count);
  return { cols: Math.max(...(await runs())), rows: await rows.locator(':scope > div').count() };
}

/** Width of one character cell and the console's width in pixels, measured in the page. */
async function paneGeometry(
  page: Page,
  name: string,
): Promise<{ paneWidth: number; paneHeight: number; cellWidth: number; cellHeight: number }> {
  return consoleOf(page, name).evaluate((element) => {
    // A probe span in the terminal's own font: independent of the numbers xterm computed.
    const rowsElement = element.querySelector('.xterm-rows')!;
    const probe = document.createElement('span');
    probe.textContent = 'W'.repeat(100);
    probe.style.whiteSpace = 'pre';
    probe.style.position = 'absolute';
    probe.style.visibility = 'hidden';
    rowsElement.appendChild(probe);
    const rect = probe.getBoundingClientRect();
    probe.remove();
    const row = rowsElement.firstElementChild!.getBoundingClientRect();
    return {
      paneWidth: element.clientWidth,
      paneHeight: element.clientHeight,
      cellWidth: rect.width / 100,
      cellHeight: row.height,
    };
  });
}

test('the console fits its pane and follows window resizes', async ({ page }) => {
  await createVm(page, 'wide');
  await startVm(page, 'wide');
  await waitForPrompt(page, 'wide');

  const checkFits = async (letter: string) => {
    const size = await terminalSize(page, 'wide', letter);
    const g = await paneGeometry(page, 'wide');
    // Fits: the columns take the pane's width less at most one cell and a scrollbar (xterm reserves one).
    expect(size.cols * g.cellWidth).toBeLessThanOrEqual(g.paneWidth + 1);
    expect(size.cols * g.cellWidth).toBeGreaterThan(g.paneWidth - g.cellWidth - 24);
    expect(size.rows * g.cellHeight).toBeLessThanOrEqual(g.paneHeight + 1);
    expect(size.rows * g.cellHeight).toBeGreaterThan(g.paneHeight - g.cellHeight - 1);
    return size;
  };

  const wide = await checkFits('A');
  await page.setViewportSize({ width: 960, height: 600 });
  const narrow = await checkFits('B');
  expect(narrow.cols).toBeLessThan(wide.cols);
  expect(narrow.rows).toBeLessThan(wide.rows);
  // 320 px less width: about 320 / cell width fewer columns.
  const { cellWidth } = await paneGeometry(page, 'wide');
  expect(Math.abs(wide.cols - narrow.cols - 320 / cellWidth)).toBeLessThanOrEqual(2);

  await page.setViewportSize({ width: 1440, height: 900 });
  const wider = await checkFits('C');
  expect(wider.cols).toBeGreaterThan(wide.cols);
  expect(wider.rows).toBeGreaterThan(wide.rows);
});
