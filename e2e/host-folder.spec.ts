/**
 * A folder on the user's disk as a VM's shared folder (issue 14, "A real folder on the user's disk"):
 * shared read-only, the guest lists and reads it and its writes fail with EROFS; shared read and write
 * after Stop sharing, the guest's file lands in the folder and not in the VM's own; and after a reload
 * whose grant lapsed, Allow access brings the folder back; the compatibility mode shares it too; Settings…
 * shows what /mnt/shared is and offers the same actions; and a browser without the picker is not offered
 * the option. The picker cannot be driven by a test, so an
 * init script stands in for `showDirectoryPicker` and returns a directory of the Origin Private File
 * System that the test prepared (a handle of the same kind as a picked one).
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL } from '../playwright.config.ts';
import { control, createVm, phaseOf, run, startVm, waitForPrompt } from './helpers.ts';

const PICKED = 'picked-by-the-test';

test.beforeEach(async ({ page }) => {
  await page.addInitScript((picked) => {
    const calls: unknown[] = [];
    Object.assign(window, {
      pickerCalls: calls,
      showDirectoryPicker: async (options: unknown) => {
        calls.push(options);
        const root = await navigator.storage.getDirectory();
        return root.getDirectoryHandle(picked, { create: true });
      },
    });
    // A reload after which the browser's grant has lapsed, until the page asks for it again.
    if (sessionStorage.getItem('lapse') === '1') {
      let allowed = false;
      const proto = FileSystemHandle.prototype as unknown as Record<string, unknown>;
      proto.queryPermission = async () => (allowed ? 'granted' : 'prompt');
      proto.requestPermission = async () => {
        allowed = true;
        return 'granted';
      };
    }
  }, PICKED);
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
});

function panel(page: Page) {
  return page.getByTestId('files');
}

async function showFiles(page: Page): Promise<void> {
  const toggle = panel(page).getByRole('button', { name: /^(Show|Hide) files$/ });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
}

/** The picked folder's files as any page script sees them (not through tabvm). */
async function pickedFiles(page: Page): Promise<Record<string, string>> {
  return page.evaluate(async (picked) => {
    const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(picked, { create: true });
    const files: Record<string, string> = {};
    for await (const [name, handle] of (
      folder as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }
    ).entries()) {
      if (handle.kind === 'file') files[name] = await (await (handle as FileSystemFileHandle).getFile()).text();
    }
    return files;
  }, PICKED);
}

async function shareFolder(page: Page, mode: 'Read only' | 'Read and write'): Promise<void> {
  await panel(page).getByRole('button', { name: 'Share a folder from this computer…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Share a folder from this computer' });
  await dialog.getByRole('radio', { name: new RegExp(`^${mode}`) }).check();
  await page.screenshot({ path: 'e2e/screenshots/host-folder-dialog.png' });
  await dialog.getByRole('button', { name: 'Choose folder…' }).click();
  await expect(dialog).toBeHidden();
}

test('a folder from this computer, read-only then read and write, in place of the VM’s own', async ({ page }) => {
  await page.evaluate(async (picked) => {
    const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(picked, { create: true });
    const writable = await (await folder.getFileHandle('hello.txt', { create: true })).createWritable();
    await writable.write('from the disk 4242\n');
    await writable.close();
  }, PICKED);
  await createVm(page, 'hostdir', 128);
  await showFiles(page);
  await expect(panel(page)).toContainText('Empty.');

  await shareFolder(page, 'Read only');
  expect(await page.evaluate(() => (window as unknown as { pickerCalls: unknown[] }).pickerCalls)).toEqual([
    expect.objectContaining({ mode: 'read' }),
  ]);
  await expect(page.getByTestId('files-note')).toContainText(`the folder “${PICKED}” on this computer, read-only`);
  await expect(panel(page).getByTestId('file-hello.txt')).toBeVisible();
  await page.screenshot({ path: 'e2e/screenshots/host-folder.png' });

  await startVm(page, 'hostdir');
  await waitForPrompt(page, 'hostdir');
  await run(page, 'hostdir', 'ls /mnt/shared', 'hello.txt');
  await run(page, 'hostdir', 'cat /mnt/shared/hello.txt', 'from the disk 4242');
  await run(page, 'hostdir', 'touch /mnt/shared/new', 'Read-only file system');
  await run(page, 'hostdir', 'echo x > /mnt/shared/hello.txt', 'Read-only file system');
  const choosing = page.waitForEvent('filechooser');
  await panel(page).getByRole('button', { name: 'Upload files…' }).click();
  await (await choosing).setFiles({ name: 'up.txt', mimeType: 'text/plain', buffer: Buffer.from('up') });
  await expect(page.getByTestId('files-error')).toContainText('This shared folder is read-only.');
  await panel(page).getByRole('button', { name: 'Dismiss' }).click();
  expect(await pickedFiles(page)).toEqual({ 'hello.txt': 'from the disk 4242\n' });

  // Read and write, from the next start. `clear` first, so the prompt waited for next is the new boot's.
  await run(page, 'hostdir', 'clear; echo cleared-$((1+1))', 'cleared-2');
  await control(page, 'hostdir', 'Power off').click();
  await expect(phaseOf(page, 'hostdir')).toHaveAttribute('data-phase', 'stopped');
  await panel(page).getByRole('button', { name: 'Stop sharing' }).click();
  await expect(panel(page)).toContainText('Empty.');
  await shareFolder(page, 'Read and write');
  await expect(page.getByTestId('files-note')).not.toContainText('read-only');
  await startVm(page, 'hostdir');
  await waitForPrompt(page, 'hostdir');
  await run(page, 'hostdir', 'echo guest-$((40+2)) > /mnt/shared/out; echo wrote-$((1+1))', 'wrote-2');
  expect(await pickedFiles(page)).toEqual({ 'hello.txt': 'from the disk 4242\n', out: 'guest-42\n' });
  await expect(panel(page).getByTestId('file-out')).toBeVisible();

  // Stop sharing: the VM's own folder, which never saw the guest's file.
  await control(page, 'hostdir', 'Power off').click();
  await expect(phaseOf(page, 'hostdir')).toHaveAttribute('data-phase', 'stopped');
  await panel(page).getByRole('button', { name: 'Stop sharing' }).click();
  await expect(panel(page)).toContainText('Empty.');
  await expect(page.getByTestId('files-note')).toContainText('kept in this browser');
});

test('after a reload whose grant lapsed, Allow access brings the folder back', async ({ page }) => {
  await createVm(page, 'lapsed', 128);
  await showFiles(page);
  await shareFolder(page, 'Read and write');
  await page.evaluate(async (picked) => {
    const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(picked, { create: true });
    await folder.getFileHandle('kept.txt', { create: true });
  }, PICKED);
  await expect(panel(page).getByTestId('file-kept.txt')).toBeVisible();

  await page.evaluate(() => sessionStorage.setItem('lapse', '1'));
  await page.reload();
  await expect(page.getByTestId('files-note')).toContainText(`the folder “${PICKED}” on this computer`);
  await expect(page.getByTestId('files-error')).toContainText('needs your permission again');
  await panel(page).getByRole('button', { name: 'Allow access' }).click();
  await expect(panel(page).getByRole('button', { name: 'Allow access' })).toBeHidden();
  await expect(panel(page).getByTestId('file-kept.txt')).toBeVisible();
});

test('the compatibility mode shares a folder from this computer too', async ({ page }) => {
  await page.goto(FALLBACK_URL);
  await expect(page.getByTestId('mode')).toHaveText(/Compatibility mode/);
  await createVm(page, 'compat-disk', 64);
  await showFiles(page);
  await shareFolder(page, 'Read and write');
  await startVm(page, 'compat-disk');
  await waitForPrompt(page, 'compat-disk');
  await run(page, 'compat-disk', 'echo compat-$((50+1)) > /mnt/shared/c; cat /mnt/shared/c', 'compat-51');
  expect((await pickedFiles(page)).c).toBe('compat-51\n');
});

test('Settings… says what /mnt/shared is, shares a folder from this computer and stops sharing it', async ({
  page,
}) => {
  await createVm(page, 'in-settings', 64);
  await page.getByRole('button', { name: 'Settings…' }).click();
  const settings = page.getByRole('dialog', { name: 'Settings of in-settings' });
  const row = settings.getByTestId('settings-shared-folder');
  await expect(row.getByTestId('settings-shared-folder-what')).toHaveText(
    '/mnt/shared is the VM’s own folder, kept in this browser',
  );
  await row.getByRole('button', { name: 'Share a folder from this computer…' }).click();
  const chooser = page.getByRole('dialog', { name: 'Share a folder from this computer' });
  await chooser.getByRole('radio', { name: /^Read and write/ }).check();
  await chooser.getByRole('button', { name: 'Choose folder…' }).click();
  await expect(chooser).toBeHidden();
  expect(await page.evaluate(() => (window as unknown as { pickerCalls: unknown[] }).pickerCalls)).toEqual([
    expect.objectContaining({ mode: 'readwrite' }),
  ]);
  await expect(row.getByTestId('settings-shared-folder-what')).toHaveText(
    `/mnt/shared is a folder from this computer, “${PICKED}” (read and write)`,
  );
  await expect(row.getByRole('status')).toContainText('The VM sees the change from its next start.');
  await row.getByRole('button', { name: 'Stop sharing' }).click();
  await expect(row.getByTestId('settings-shared-folder-what')).toHaveText(
    '/mnt/shared is the VM’s own folder, kept in this browser',
  );
  await settings.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('files-note')).toContainText('kept in this browser');
});

test('a browser without showDirectoryPicker is not offered the option', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.reload();
  await createVm(page, 'no-picker', 64);
  await expect(page.getByTestId('files-note')).toContainText('kept in this browser');
  await expect(panel(page).getByRole('button', { name: 'Upload files…' })).toBeVisible();
  await expect(panel(page).getByRole('button', { name: 'Share a folder from this computer…' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Settings…' }).click();
  const row = page.getByRole('dialog', { name: 'Settings of no-picker' }).getByTestId('settings-shared-folder');
  await expect(row).toContainText('the VM’s own folder');
  await expect(row.getByRole('button', { name: 'Share a folder from this computer…' })).toHaveCount(0);
});
