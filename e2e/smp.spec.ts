/**
 * Several CPUs in the browser (docs/harts.md): the New VM dialog's CPUs field and its default, a 2-CPU
 * VM whose guest counts two harts (each a Worker nested in the VM's worker), a hart worker that crashes
 * or stops answering (the VM shows the error with Restart, the page and another VM go on), the compatibility mode that
 * runs one and says so, and an embed with cpus=2.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL, ISOLATED_URL } from '../playwright.config.ts';
import { BOOT_TIMEOUT, consoleOf, control, phaseOf, run, selectVm, startVm, waitForPrompt } from './helpers.ts';

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

/**
 * The VM worker's script as the site serves it, with a prologue that hands hart `hart` a debug fault
 * (HartThreadData.debugFault, workers/machine/threads.ts) in the start message it posts to that hart's
 * Worker: the test's only way into a hart's thread (Playwright does not see the nested hart workers' requests).
 */
function withFault(script: string, hart: number, fault: { kind: 'crash' | 'hang'; afterInstructions: number }): string {
  return `{
  const RealWorker = self.Worker;
  self.Worker = class extends RealWorker {
    postMessage(data, transfer) {
      const faulty = data !== null && typeof data === 'object' && data.hartId === ${hart};
      super.postMessage(faulty ? { ...data, debugFault: ${JSON.stringify(fault)} } : data, transfer);
    }
  };
}
${script}`;
}

/**
 * Serves the VM worker's script with `fault` for hart 0 to the first VM worker the page starts, and
 * unchanged to the later ones (a Restart's). The route stays for the whole test: with an unroute
 * before Restart, Playwright's next click hung until the test's timeout in two runs of five here.
 */
async function faultFirstVm(
  page: Page,
  fault: { kind: 'crash' | 'hang'; afterInstructions: number },
): Promise<() => number> {
  let served = 0;
  await page.context().route('**/vm.worker*.js', async (route) => {
    if (served++ > 0) return route.continue();
    const response = await route.fetch();
    return route.fulfill({ response, body: withFault(await response.text(), 0, fault) });
  });
  return () => served;
}

test('a hart worker that crashes stops its VM with the error and Restart; the page and another VM go on', async ({
  page,
}) => {
  test.setTimeout(4 * BOOT_TIMEOUT);
  await page.goto(ISOLATED_URL);
  await createVmWithCpus(page, 'steady', 1);
  await startVm(page, 'steady');
  await waitForPrompt(page, 'steady');
  const served = await faultFirstVm(page, { kind: 'crash', afterInstructions: 5_000_000 });
  await createVmWithCpus(page, 'fragile', 2);
  await startVm(page, 'fragile');
  const error = page.getByTestId('vm-error');
  await expect(error).toContainText('CPU 0 stopped', { timeout: BOOT_TIMEOUT });
  await expect(error).toContainText('a crash injected for a test after 5000000 instructions');
  await expect(phaseOf(page, 'fragile')).toHaveAttribute('data-phase', 'error');
  expect(served()).toBe(1);
  // The page answers, and the other VM runs on.
  await run(page, 'steady', 'echo steady-$((20+1))', 'steady-21');
  await expect(phaseOf(page, 'steady')).toHaveAttribute('data-phase', 'running');
  // Restart boots it again, with harts that run clean.
  await selectVm(page, 'fragile');
  await error.getByRole('button', { name: 'Restart' }).click();
  await waitForPrompt(page, 'fragile');
  await run(page, 'fragile', COUNT, 'cpus=2 harts=2');
  await expect(control(page, 'fragile', 'Power off')).toBeEnabled();
});

test('a hart worker that stops answering stops its VM with the error after 30 s, and Restart boots it again', async ({
  page,
}) => {
  test.setTimeout(4 * BOOT_TIMEOUT);
  await page.goto(ISOLATED_URL);
  await faultFirstVm(page, { kind: 'hang', afterInstructions: 5_000_000 });
  await createVmWithCpus(page, 'frozen', 2);
  await startVm(page, 'frozen');
  const error = page.getByTestId('vm-error');
  await expect(error).toContainText('CPU 0 stopped answering: its worker has been stuck for 30 s', {
    timeout: BOOT_TIMEOUT + 30_000,
  });
  await error.getByRole('button', { name: 'Restart' }).click();
  await waitForPrompt(page, 'frozen');
  await run(page, 'frozen', COUNT, 'cpus=2 harts=2');
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
