/** The same app on a page served without COOP/COEP: private memory, message-based console. */
import { test, expect } from '@playwright/test';
import { FALLBACK_URL } from '../playwright.config.ts';
import { consoleText, control, createVm, phaseOf, run, startVm, waitForPrompt } from './helpers.ts';

test('without cross-origin isolation the fallback mode boots and answers', async ({ page }) => {
  await page.goto(FALLBACK_URL);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
  await expect(page.getByTestId('mode')).toHaveText(/Compatibility mode/);
  await createVm(page, 'compat');
  await startVm(page, 'compat');
  await waitForPrompt(page, 'compat');
  await run(page, 'compat', 'echo hello-$((6*7))', 'hello-42');
  await page.screenshot({ path: 'e2e/screenshots/10-fallback-mode.png' });

  await control(page, 'compat', 'Pause').click();
  await expect(phaseOf(page, 'compat')).toHaveAttribute('data-phase', 'paused');
  await page.getByTestId('console-compat').click();
  await page.keyboard.type('echo held-$((2*2))');
  await page.keyboard.press('Enter');
  await page.waitForTimeout(1500);
  expect(await consoleText(page, 'compat')).not.toContain('held-');
  await control(page, 'compat', 'Resume').click();
  await expect(page.getByTestId('console-compat').locator('.xterm-rows')).toContainText('held-4');

  await run(page, 'compat', 'poweroff', /Power down|powered off/);
  await expect(phaseOf(page, 'compat')).toHaveAttribute('data-phase', 'stopped');
});
