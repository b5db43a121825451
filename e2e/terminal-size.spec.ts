/**
 * The guest's terminal is the pane's size (issue 15 item 3): `stty size` in the guest equals the rows and
 * columns the xterm shows, before and after a window resize, in the app on both images; in the tutorial
 * (a VM restored from a snapshot taken at another size) and in embed.html at start.
 */
import { test, expect, type Locator, type Page } from '@playwright/test';
import { ISOLATED_URL } from '../playwright.config.ts';
import { BOOT_TIMEOUT, DEBIAN, consoleOf, createVm, startVm, waitForLogin, waitForPrompt } from './helpers.ts';

interface Size {
  readonly cols: number;
  readonly rows: number;
}

async function typeLine(page: Page, terminal: Locator, line: string): Promise<void> {
  await terminal.click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/**
 * The xterm's size as the person sees it: the guest prints `count` copies of `letter` on one line, which
 * the terminal wraps; the widest all-`letter` row is the column count, the rows on screen the row count.
 */
async function xtermSize(page: Page, terminal: Locator, letter: string, count = 400): Promise<Size> {
  const rows = terminal.locator('.xterm-rows');
  await typeLine(page, terminal, `clear; printf '%0${count}d\\n' 0 | tr 0 ${letter}`);
  const runs = async () =>
    (await rows.locator(':scope > div').allInnerTexts())
      .map((text) => text.replace(/[\s\u00a0]+$/, ''))
      .filter((text) => text.length > 0 && [...text].every((c) => c === letter))
      .map((text) => text.length);
  await expect.poll(async () => (await runs()).reduce((a, b) => a + b, 0)).toBe(count);
  return { cols: Math.max(...(await runs())), rows: await rows.locator(':scope > div').count() };
}

/** What the guest's shell says its terminal is (`stty size` prints "rows cols"). */
async function sttySize(page: Page, terminal: Locator, tag: string): Promise<Size> {
  const rows = terminal.locator('.xterm-rows');
  // The tag is computed by the shell, so the echo of the typed line cannot match the pattern.
  await typeLine(page, terminal, `echo "${tag}$((1+1)) $(stty size)"`);
  const pattern = new RegExp(`${tag}2 (\\d+) (\\d+)`);
  await expect(rows).toContainText(pattern);
  const match = pattern.exec((await rows.innerText()).replace(/\u00a0/g, ' '))!;
  return { rows: Number(match[1]), cols: Number(match[2]) };
}

async function expectGuestFollows(page: Page, terminal: Locator, letter: string): Promise<Size> {
  const shown = await xtermSize(page, terminal, letter);
  // The 80×24 the guest has without being told is not what a 1280×800 (or smaller) pane shows.
  expect(shown).not.toEqual({ cols: 80, rows: 24 });
  await expect.poll(() => sttySize(page, terminal, `size${letter}`)).toEqual(shown);
  return shown;
}

for (const image of ['default', DEBIAN] as const) {
  test(`stty size in the ${image} image is the app's console size, before and after a window resize`, async ({
    page,
  }) => {
    test.setTimeout(image === DEBIAN ? 600_000 : 300_000);
    await page.goto('/');
    const name = image === DEBIAN ? 'deb-size' : 'size';
    await createVm(page, name, undefined, image === DEBIAN ? DEBIAN : undefined);
    await startVm(page, name);
    if (image === DEBIAN) await waitForLogin(page, name);
    else await waitForPrompt(page, name);
    const terminal = consoleOf(page, name);

    const before = await expectGuestFollows(page, terminal, 'A');
    await page.setViewportSize({ width: 960, height: 600 });
    const after = await expectGuestFollows(page, terminal, 'B');
    expect(after.cols).toBeLessThan(before.cols);
    expect(after.rows).toBeLessThan(before.rows);
  });
}

test('the tutorial\'s terminal, restored from a snapshot of another size, tells the guest its size', async ({ page }) => {
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto('/tutorial.html');
  const terminal = page.locator('tabvm-terminal');
  await expect(terminal).toHaveAttribute('data-state', 'ready', { timeout: BOOT_TIMEOUT });
  await expect(terminal.locator('.xterm-rows')).toContainText('restored snapshot "tutorial.tabvm"');
  await expectGuestFollows(page, terminal, 'T');
});

test('embed.html tells the guest its terminal size at start', async ({ page }) => {
  await page.setViewportSize({ width: 900, height: 500 });
  await page.goto(`${ISOLATED_URL}/embed.html?autostart=1`);
  const terminal = page.locator('tabvm-terminal');
  await expect(terminal).toHaveAttribute('data-state', 'ready', { timeout: BOOT_TIMEOUT });
  await expectGuestFollows(page, terminal, 'E');
});
