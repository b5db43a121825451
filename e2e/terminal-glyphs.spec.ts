/**
 * Every glyph of the console font is drawn inside its row at every zoom level. With xterm's default line
 * height the underscore of a 14 px monospace font falls below the 16 px row at devicePixelRatio 1, and
 * `echo a_b_c` showed as `a b c`. The test reads the screen's pixels where the underscore must be.
 */
import { test, expect, type Page } from '@playwright/test';
import { BOOT_TIMEOUT } from './helpers.ts';

/** Where the `_` of a row that reads exactly `a_b_c` sits, in CSS pixels of the page. */
async function underscoreBox(page: Page): Promise<{ x: number; y: number; width: number; height: number }> {
  const box = await page.evaluate(() => {
    // The tutorial's terminal lives in shadow roots: search them all.
    const roots: (Document | ShadowRoot)[] = [document];
    for (let i = 0; i < roots.length; i++) {
      for (const element of Array.from(roots[i]!.querySelectorAll('*')))
        if (element.shadowRoot) roots.push(element.shadowRoot);
    }
    for (const root of roots) {
      for (const row of Array.from(root.querySelectorAll('.xterm-rows > div'))) {
        if (row.textContent?.replace(/\u00a0/g, ' ').trim() !== 'a_b_c') continue;
        const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const at = node.textContent!.indexOf('_');
          if (at < 0) continue;
          const range = document.createRange();
          range.setStart(node, at);
          range.setEnd(node, at + 1);
          const glyph = range.getBoundingClientRect();
          const line = row.getBoundingClientRect();
          return { x: glyph.left, y: line.top, width: glyph.width, height: line.height };
        }
      }
    }
    return undefined;
  });
  if (!box) throw new Error('no console row reads a_b_c');
  return box;
}

/** The brightest pixel (0–255 luminance) of a region of the screen. */
async function brightest(page: Page, clip: { x: number; y: number; width: number; height: number }): Promise<number> {
  const png = (await page.screenshot({ clip })).toString('base64');
  return page.evaluate(async (data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d')!;
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    let max = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      max = Math.max(max, 0.299 * pixels[i]! + 0.587 * pixels[i + 1]! + 0.114 * pixels[i + 2]!);
    }
    return max;
  }, png);
}

for (const zoom of [0.75, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2, 3]) {
  test(`the underscore is drawn inside its row at devicePixelRatio ${zoom}`, async ({ browser }) => {
    const context = await browser.newContext({ deviceScaleFactor: zoom, viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await page.goto('/tutorial.html');
      const terminal = page.locator('tabvm-terminal');
      await expect(terminal).toHaveAttribute('data-state', 'ready', { timeout: BOOT_TIMEOUT });
      await terminal.locator('.xterm-screen').click();
      await page.keyboard.type('echo a_b_c\n');
      await expect(async () => {
        await underscoreBox(page);
      }).toPass({ timeout: 30_000 });
      const box = await underscoreBox(page);
      // The terminal's background is #0f1419 (luminance ~19) and its text #d8dee9 (~221); a clipped underscore
      // leaves the background (19 was measured at ratio 1 before the fix), an antialiased one at ratio 0.75 ~112.
      expect(await brightest(page, box)).toBeGreaterThan(70);
    } finally {
      await context.close();
    }
  });
}
