/**
 * The app as a user drives it, on a cross-origin isolated page (shared memory, SAB console rings).
 * Screenshots of the main screens go to e2e/screenshots/.
 */
import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  consoleOf,
  consoleText,
  control,
  createVm,
  phaseOf,
  run,
  selectVm,
  startVm,
  waitForPrompt,
} from './helpers.ts';

const defaultImage = JSON.parse(readFileSync('public/images/default/manifest.json', 'utf8')) as {
  memory: { minimum: number };
};
const shot = (name: string) => ({ path: `e2e/screenshots/${name}.png` });

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
});

test('boots the default image and answers a command; a second start downloads nothing', async ({ page }) => {
  await page.screenshot(shot('01-empty-library'));
  const imageRequests: string[] = [];
  page.on('request', (request) => {
    if (/\/images\/default\/(Image|fw_dynamic\.bin|initramfs)/.test(request.url())) imageRequests.push(request.url());
  });
  await createVm(page, 'alpha');
  await startVm(page, 'alpha');
  await expect(phaseOf(page, 'alpha')).toHaveAttribute('data-phase', 'running');
  await waitForPrompt(page, 'alpha');
  // The console took the focus on start: typing goes straight to the guest.
  await page.keyboard.type('echo hello-$((6*7))');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('console-alpha').locator('.xterm-rows')).toContainText('hello-42');
  expect(imageRequests.length).toBe(3);
  // The built app's kernel and firmware come gzipped (compress-image-files.ts), the initramfs as it is.
  expect(imageRequests.map((url) => url.slice(url.lastIndexOf('/') + 1)).sort()).toEqual([
    'Image.gz',
    'fw_dynamic.bin.gz',
    'initramfs.cpio.gz',
  ]);
  await expect(phaseOf(page, 'alpha')).toContainText(/MIPS/);
  await page.screenshot(shot('02-running'));
  // Screen reader mode: xterm mirrors the rows into an accessibility tree.
  await page.getByLabel('Screen reader mode').check();
  await expect(page.getByTestId('console-alpha').locator('.xterm-accessibility-tree')).toContainText('hello-42');
  await page.getByLabel('Screen reader mode').uncheck();

  await control(page, 'alpha', 'Power off').click();
  await expect(phaseOf(page, 'alpha')).toHaveAttribute('data-phase', 'stopped');
  await control(page, 'alpha', 'Start').click();
  await waitForPrompt(page, 'alpha');
  expect(imageRequests.length).toBe(3);
});

test('two VMs run at once; each answers its own commands and sees only its own output', async ({ page }) => {
  await createVm(page, 'alpha', 64);
  await createVm(page, 'beta', 96);
  await startVm(page, 'alpha');
  await startVm(page, 'beta');
  await waitForPrompt(page, 'beta');
  await selectVm(page, 'alpha');
  await waitForPrompt(page, 'alpha');
  await run(page, 'alpha', 'echo only-alpha-$((40+2))', 'only-alpha-42');
  await run(page, 'beta', 'echo only-beta-$((50+5))', 'only-beta-55');
  // Each guest reports its own RAM: the two machines are separate.
  await run(page, 'alpha', "grep MemTotal /proc/meminfo | tr -s ' '", /MemTotal: \d+ kB/);
  await page.screenshot(shot('03-two-vms'));
  await selectVm(page, 'alpha');
  const alpha = await consoleText(page, 'alpha');
  expect(alpha).toContain('only-alpha-42');
  expect(alpha).not.toContain('only-beta');
  await selectVm(page, 'beta');
  const beta = await consoleText(page, 'beta');
  expect(beta).toContain('only-beta-55');
  expect(beta).not.toContain('only-alpha');
  await expect(phaseOf(page, 'alpha')).toHaveAttribute('data-phase', 'running');
  await expect(phaseOf(page, 'beta')).toHaveAttribute('data-phase', 'running');
});

test('pause holds typed input until Resume; guest poweroff stops the VM', async ({ page }) => {
  await createVm(page, 'gamma');
  await startVm(page, 'gamma');
  await waitForPrompt(page, 'gamma');
  await control(page, 'gamma', 'Pause').click();
  await expect(phaseOf(page, 'gamma')).toHaveAttribute('data-phase', 'paused');
  await page.getByTestId('console-gamma').click();
  await page.keyboard.type('echo paused-$((5*5))');
  await page.keyboard.press('Enter');
  await page.waitForTimeout(1500);
  const whilePaused = await consoleText(page, 'gamma');
  expect(whilePaused).not.toContain('paused-');
  await page.screenshot(shot('04-paused'));
  await control(page, 'gamma', 'Resume').click();
  await expect(page.getByTestId('console-gamma').locator('.xterm-rows')).toContainText('paused-25');
  await expect(phaseOf(page, 'gamma')).toHaveAttribute('data-phase', 'running');

  await run(page, 'gamma', 'poweroff', /powered off|reboot: Power down/);
  await expect(phaseOf(page, 'gamma')).toHaveAttribute('data-phase', 'stopped');
  await expect(page.getByTestId('vm-state')).toHaveText('Stopped');
  await expect(page.getByRole('status').filter({ hasText: 'The guest powered off' })).toBeVisible();
  expect(page.workers()).toHaveLength(0);
  await page.screenshot(shot('05-guest-poweroff'));
});

test('a guest reboot shows in the state and comes back to the prompt', async ({ page }) => {
  await createVm(page, 'delta');
  await startVm(page, 'delta');
  await waitForPrompt(page, 'delta');
  await page.keyboard.type('reboot');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('vm-state')).toHaveText('Rebooting', { timeout: 30_000 });
  await expect(phaseOf(page, 'delta')).toHaveAttribute('data-phase', 'running');
  // The label times out; by then the new boot has reached its shell again.
  await expect(page.getByTestId('vm-state')).toHaveText(/^Running/, { timeout: 30_000 });
  await waitForPrompt(page, 'delta');
  await run(page, 'delta', 'echo back-$((3*3))', 'back-9');
});

test('the New VM dialog checks name and RAM; the list survives a reload; Delete asks first', async ({ page }) => {
  await createVm(page, 'keep-me', 128);
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await dialog.getByLabel('Name').fill('  ');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog.getByText('Give the VM a name.')).toBeVisible();
  await dialog.getByLabel('Name').fill('KEEP-ME');
  await expect(dialog.getByText('A VM named “KEEP-ME” already exists.')).toBeVisible();
  await dialog.getByLabel('Name').fill('second');
  const minimum = defaultImage.memory.minimum;
  await dialog.getByLabel('Memory (MiB)').fill(String(minimum - 1));
  await expect(dialog.getByText(`This image needs at least ${minimum} MiB.`)).toBeVisible();
  await page.screenshot(shot('06-new-vm-dialog'));
  await dialog.getByLabel('Memory (MiB)').fill('4096');
  await expect(dialog.getByText('At most 2048 MiB.')).toBeVisible();
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Memory (MiB)').fill('48');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();

  await page.reload();
  await expect(page.getByTestId('vm-item-keep-me')).toContainText('128 MiB');
  await expect(page.getByTestId('vm-item-second')).toContainText('48 MiB');

  await selectVm(page, 'second');
  await control(page, 'second', 'Delete').click();
  const confirm = page.getByRole('dialog', { name: 'Delete second?' });
  await expect(confirm).toBeVisible();
  await page.screenshot(shot('07-delete-confirm'));
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('vm-item-second')).toBeVisible();
  await control(page, 'second', 'Delete').click();
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('vm-item-second')).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('vm-item-keep-me')).toBeVisible();
  await expect(page.getByTestId('vm-item-second')).toHaveCount(0);
});

test('a truncated download shows an error with Retry and never boots; Retry then boots', async ({ page }) => {
  await page.route('**/images/default/Image.gz', async (route) => {
    const response = await route.fetch();
    const body = await response.body();
    await route.fulfill({
      response,
      body: body.subarray(0, 1_000_000),
      headers: { ...response.headers(), 'content-length': '1000000' },
    });
  });
  await createVm(page, 'flaky');
  await startVm(page, 'flaky');
  await expect(page.getByTestId('vm-error')).toContainText('truncated');
  await expect(phaseOf(page, 'flaky')).toHaveAttribute('data-phase', 'error');
  expect(page.workers()).toHaveLength(0);
  await page.screenshot(shot('08-download-error'));
  await page.unroute('**/images/default/Image.gz');
  await page.getByRole('button', { name: 'Retry' }).click();
  await waitForPrompt(page, 'flaky');
});

test('a VM whose worker fails shows Restart while another VM keeps working; Delete ends its worker', async ({
  page,
}) => {
  await createVm(page, 'steady', 64);
  await createVm(page, 'broken', 64);
  await startVm(page, 'steady');
  await waitForPrompt(page, 'steady');
  // The CPU core the next worker loads is garbage: that worker's boot fails.
  await page.route('**/core*.wasm', (route) =>
    route.fulfill({ status: 200, contentType: 'application/wasm', body: Buffer.from('not wasm') }),
  );
  await startVm(page, 'broken');
  await expect(page.getByTestId('vm-error')).toContainText('could not boot');
  await expect(page.getByRole('button', { name: 'Restart' })).toBeVisible();
  await page.screenshot(shot('09-worker-error'));
  await run(page, 'steady', 'echo still-$((7*6))', 'still-42');
  await page.unroute('**/core*.wasm');
  await selectVm(page, 'broken');
  await page.getByRole('button', { name: 'Restart' }).click();
  await waitForPrompt(page, 'broken');
  expect(page.workers()).toHaveLength(2);
  await control(page, 'broken', 'Delete').click();
  await page.getByRole('dialog', { name: 'Delete broken?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('vm-item-broken')).toHaveCount(0);
  await expect.poll(() => page.workers().length).toBe(1);
  // Back on its console, the last output is on screen: the console shows its end, not rows above it.
  await selectVm(page, 'steady');
  await expect(consoleOf(page, 'steady').locator('.xterm-rows')).toContainText('still-42');
  await run(page, 'steady', 'echo after-$((1+1))', 'after-2');
});

test('a VM whose worker hangs is reported with Restart; the page stays responsive', async ({ page }) => {
  test.setTimeout(120_000);
  // A CPU core whose attach() never returns: the worker's event loop is stuck from the first call on.
  // (wasm binary: type () -> (), one function exported as "attach", body `loop br 0 end`.)
  const spinning = Buffer.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07,
    0x0a, 0x01, 0x06, 0x61, 0x74, 0x74, 0x61, 0x63, 0x68, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c,
    0x00, 0x0b, 0x0b,
  ]);
  await page.route('**/core*.wasm', (route) =>
    route.fulfill({ status: 200, contentType: 'application/wasm', body: spinning }),
  );
  await createVm(page, 'stuck', 64);
  await startVm(page, 'stuck');
  await expect(phaseOf(page, 'stuck')).toHaveAttribute('data-phase', 'starting');
  // The UI keeps working while the worker spins: open and cancel the New VM dialog.
  await page.getByRole('button', { name: 'New VM' }).first().click();
  await page.getByRole('dialog', { name: 'New virtual machine' }).getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('vm-error')).toContainText('its worker is stuck', { timeout: 30_000 });
  await expect.poll(() => page.workers().length).toBe(0);
  await page.unroute('**/core*.wasm');
  await page.getByRole('button', { name: 'Restart' }).click();
  await waitForPrompt(page, 'stuck');
});
