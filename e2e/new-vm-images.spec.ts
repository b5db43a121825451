/**
 * The New VM dialog's images: an image the server has not built is listed but disabled, with the command
 * that builds it; the user's own files are checked before a VM is made from them.
 */
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, startVm, waitForPrompt, keepStoppedOnReload } from './helpers.ts';

test.beforeEach(async ({ page }) => {
  await page.goto('/');
});

test('an image that is not built is disabled and the dialog says how to build it', async ({ page }) => {
  await page.route('**/images/debian/manifest.json', (route) => route.fulfill({ status: 404, body: 'not found' }));
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await expect(dialog.getByTestId('image-not-built')).toContainText(
    'Debian 13 (trixie) is not built on this server: run sudo npm run image:debian',
  );
  await expect(dialog.getByRole('option', { name: 'Debian 13 (trixie) — not built' })).toBeDisabled();
  await expect(dialog.getByRole('option', { name: 'tabvm default (busybox)' })).toBeEnabled();
});

test('a built image is offered by its manifest title', async ({ page }) => {
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await expect(dialog.getByRole('option', { name: 'Debian 13 (trixie)', exact: true })).toBeEnabled();
  await dialog.getByLabel('Image').selectOption('debian');
  await expect(dialog.getByText(/disk downloaded as the guest reads it/)).toBeVisible();
  await expect(dialog.getByTestId('image-not-built')).toHaveCount(0);
});

test("the user's own files are refused with a reason when they cannot work", async ({ page }) => {
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await dialog.getByLabel('Image').selectOption('custom');
  const problems = dialog.getByTestId('custom-file-problems');

  await dialog
    .getByLabel('Disk image (raw)')
    .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.alloc(1000, 65) });
  await expect(problems).toHaveText(
    'notes.txt is 1000 bytes, not a whole number of 4 KiB blocks; a raw disk image is (resize it with `truncate -s %4K`).',
  );

  const qcow2 = Buffer.alloc(4096);
  qcow2.write('QFI\xfb', 'latin1');
  await dialog
    .getByLabel('Disk image (raw)')
    .setInputFiles({ name: 'vm.qcow2', mimeType: 'application/octet-stream', buffer: qcow2 });
  await expect(problems).toContainText(
    'vm.qcow2 is a QCOW2 image, not a raw disk image. Convert it with `qemu-img convert -O raw`',
  );

  await dialog
    .getByLabel('Disk image (raw)')
    .setInputFiles({ name: 'empty.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(0) });
  await expect(problems).toHaveText('empty.img is empty.');

  await dialog
    .getByLabel('Disk image (raw)')
    .setInputFiles({ name: 'disk.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(8192) });
  await dialog
    .getByLabel('Kernel (optional: tabvm’s Linux otherwise)')
    .setInputFiles({ name: 'kernel.txt', mimeType: 'text/plain', buffer: Buffer.alloc(4096, 66) });
  await expect(problems).toHaveText(
    'kernel.txt is not a RISC-V Linux kernel Image (no "RSC\\x05" magic at offset 0x38) nor an ELF.',
  );
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeVisible();
});

test("a VM from the user's own disk and initrd boots, sees the disk as /dev/vda, and keeps what it wrote", async ({
  page,
}) => {
  test.setTimeout(600_000);
  // A small ext4 disk with one file, and the default image's busybox initramfs as the user's initrd.
  const dir = mkdtempSync(join(tmpdir(), 'tabvm-e2e-disk-'));
  try {
    mkdirSync(join(dir, 'root'));
    writeFileSync(join(dir, 'root/hello.txt'), 'hello from my own disk\n');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', join(dir, 'root'), join(dir, 'mine.img'), '4M']);
    await page.getByRole('button', { name: 'New VM' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
    await dialog.getByLabel('Name').fill('own');
    await dialog.getByLabel('Image').selectOption('custom');
    await dialog.getByLabel('Disk image (raw)').setInputFiles(join(dir, 'mine.img'));
    await dialog.getByLabel('Initrd (optional)').setInputFiles('public/images/default/initramfs.cpio.gz');
    await dialog.getByLabel('Memory (MiB)').fill('128');
    await expect(dialog.getByTestId('custom-file-problems')).toHaveText('');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await expect(dialog).toBeHidden();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await startVm(page, 'own');
  await waitForPrompt(page, 'own');
  await run(page, 'own', 'clear; mount /dev/vda /mnt && cat /mnt/hello.txt', 'hello from my own disk');
  await run(
    page,
    'own',
    'clear; echo written-$((6*7)) > /mnt/new.txt && umount /mnt && echo unmounted-$((1+1))',
    'unmounted-2',
  );

  // After a reload the VM boots from the stored files again, with its writes.
  await keepStoppedOnReload(page);
  await page.reload();
  await startVm(page, 'own');
  await waitForPrompt(page, 'own');
  await run(page, 'own', 'clear; mount /dev/vda /mnt && cat /mnt/new.txt', 'written-42');
});
