/**
 * A guest whose kernel panics is shown as crashed, with its panic line and Restart, instead of a VM
 * that reads as running while its worker spins forever. The panic comes as a user could cause it: a
 * VM of their own files whose disk holds no file system, booted by tabvm's kernel with root=/dev/vda.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL, ISOLATED_URL } from '../playwright.config.ts';
import { BOOT_TIMEOUT, consoleOf, control, phaseOf, startVm } from './helpers.ts';

const PANIC = 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(254,0)';

async function createBlankDiskVm(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Image').selectOption('custom');
  await dialog
    .getByLabel('Disk image (raw)')
    .setInputFiles({ name: 'blank.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(1 << 20) });
  await dialog.getByLabel('Memory (MiB)').fill('64');
  await expect(dialog.getByTestId('custom-file-problems')).toHaveText('');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();
}

for (const [mode, url] of [
  ['cross-origin isolated', ISOLATED_URL],
  ['fallback', FALLBACK_URL],
] as const) {
  test(`a kernel panic shows the VM as crashed with its panic line and Restart (${mode})`, async ({ page }) => {
    test.setTimeout(4 * BOOT_TIMEOUT);
    await page.goto(url);
    await createBlankDiskVm(page, 'blank');
    await startVm(page, 'blank');

    const error = page.getByTestId('vm-error');
    await expect(error).toContainText('The guest crashed: its kernel panicked.', { timeout: BOOT_TIMEOUT });
    await expect(error).toContainText(`the guest kernel panicked: ${PANIC}`);
    await expect(phaseOf(page, 'blank')).toHaveAttribute('data-phase', 'error');
    await expect(page.getByTestId('vm-state')).toHaveText('Crashed');
    // The console keeps what the kernel said, to its last line.
    await expect(consoleOf(page, 'blank').locator('.xterm-rows')).toContainText(`---[ end ${PANIC} ]---`);
    await expect(control(page, 'blank', 'Power off')).toBeDisabled();

    // Restart boots a fresh worker from the same files (which panics the same way again).
    await error.getByRole('button', { name: 'Restart' }).click();
    await expect(phaseOf(page, 'blank')).toHaveAttribute('data-phase', 'running');
    await expect(phaseOf(page, 'blank')).toHaveAttribute('data-phase', 'error', { timeout: BOOT_TIMEOUT });
    await expect(error).toContainText(`the guest kernel panicked: ${PANIC}`);
  });
}
