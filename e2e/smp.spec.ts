/**
 * Several CPUs in the browser (docs/harts.md): the New VM dialog's CPUs field and its default, a 2-CPU
 * VM whose guest counts two harts (each a Worker nested in the VM's worker), the compatibility mode that
 * runs one and says so, and an embed with cpus=2.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL, ISOLATED_URL } from '../playwright.config.ts';
import { BOOT_TIMEOUT, consoleOf, run, startVm, waitForPrompt } from './helpers.ts';

/** Creates a VM of the default image with `cpus` typed into the dialog; returns the dialog's default. */
async function createVmWithCpus(page: Page, name: string, cpus: number): Promise<{ default: string; hint: string }> {
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await dialog.getByLabel('Name').fill(name);
  await expect(dialog.getByRole('button', { name: 'Create' })).toBeEnabled();
  const field = dialog.getByLabel('CPUs');
  const shown = {
    default: await field.inputValue(),
    hint: (await dialog.getByTestId('vm-cpus-hint').textContent()) ?? '',
  };
  await field.fill(String(cpus));
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();
  return shown;
}

// The markers are computed by the guest's shell, so the echo of the typed line cannot match them.
const COUNT = 'echo "cpus=$(nproc) harts=$(grep -c ^processor /proc/cpuinfo)"';

test('a 2-CPU VM made in the dialog counts two harts; the dialog defaults to what fits the machine', async ({
  page,
}) => {
  test.setTimeout(3 * BOOT_TIMEOUT);
  await page.goto(ISOLATED_URL);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const shown = await createVmWithCpus(page, 'duo', 2);
  expect(shown.default).toBe(cores >= 4 ? '2' : '1');
  expect(shown.hint).not.toContain('not cross-origin isolated');
  await startVm(page, 'duo');
  await waitForPrompt(page, 'duo');
  await expect(page.getByTestId('cpus')).toHaveText('2 CPUs');
  await run(page, 'duo', COUNT, 'cpus=2 harts=2');
  // Both harts run: a busy job on each adds user time to every CPU line of /proc/stat.
  await run(
    page,
    'duo',
    'a=$(grep -c "^cpu[0-9]" /proc/stat); for j in 1 2; do (i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done) & done; wait; echo "lines=$a"',
    'lines=2',
  );
  await expect(consoleOf(page, 'duo').locator('.xterm-rows')).not.toContainText('Oops');
});

test('the compatibility mode runs one CPU and says so', async ({ page }) => {
  test.setTimeout(3 * BOOT_TIMEOUT);
  await page.goto(FALLBACK_URL);
  const shown = await createVmWithCpus(page, 'solo', 2);
  expect(shown.hint).toBe('This page is not cross-origin isolated, so the VM runs on one CPU.');
  await startVm(page, 'solo');
  await waitForPrompt(page, 'solo');
  await expect(page.getByTestId('cpus')).toHaveText('1 CPU (compatibility mode)');
  await run(page, 'solo', COUNT, 'cpus=1 harts=1');
});

test('an embed with cpus=2 has two harts', async ({ page }) => {
  test.setTimeout(3 * BOOT_TIMEOUT);
  await page.goto(`${ISOLATED_URL}/embed.html?cpus=2`);
  await expect(page.locator('tabvm-terminal')).toHaveAttribute('data-mode', 'shared');
  const result = await page.evaluate(async (command) => {
    const vm = document.querySelector('tabvm-terminal') as unknown as {
      run(command: string, options?: { timeout?: number }): Promise<{ output: string; exitCode: number }>;
    };
    return vm.run(command, { timeout: 200_000 });
  }, COUNT);
  expect(result).toEqual({ output: 'cpus=2 harts=2\n', exitCode: 0 });
});
