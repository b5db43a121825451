/**
 * The VM's shared folder in the browser (issue 14): the VM's own folder in the Origin Private File
 * System, mounted by the guest at /mnt/shared. A file the page writes appears in the guest, one the
 * guest writes is read back by the page, it is still there after a reload, the mount works after a
 * snapshot restore (and the restore does not roll the folder back), and deleting the VM removes it.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL } from '../playwright.config.ts';
import {
  control,
  createVm,
  keepStoppedOnReload,
  restoreAndWait,
  run,
  selectVm,
  startVm,
  takeSnapshot,
  waitForPrompt,
} from './helpers.ts';

/** The ids of the VMs that have a folder in the OPFS (src/storage/vm-share.ts). */
async function shareIds(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const shares = await root.getDirectoryHandle('tabvm-shares', { create: true });
    const ids: string[] = [];
    for await (const name of (shares as unknown as { keys(): AsyncIterable<string> }).keys()) ids.push(name);
    return ids;
  });
}

/** Writes a file into the VM's folder as any page script could (the OPFS), not through tabvm. */
async function writeShared(page: Page, vmId: string, name: string, text: string): Promise<void> {
  await page.evaluate(
    async ([vmId, name, text]) => {
      const root = await navigator.storage.getDirectory();
      const folder = await (await root.getDirectoryHandle('tabvm-shares')).getDirectoryHandle(vmId!);
      const writable = await (await folder.getFileHandle(name!, { create: true })).createWritable();
      await writable.write(text!);
      await writable.close();
    },
    [vmId, name, text],
  );
}

async function readShared(page: Page, vmId: string, name: string): Promise<string> {
  return page.evaluate(
    async ([vmId, name]) => {
      const root = await navigator.storage.getDirectory();
      const folder = await (await root.getDirectoryHandle('tabvm-shares')).getDirectoryHandle(vmId!);
      return (await (await folder.getFileHandle(name!)).getFile()).text();
    },
    [vmId, name],
  );
}

test("the page's files appear in the guest and the guest's in the page; after a restore and a reload too", async ({
  page,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
  await createVm(page, 'share', 128);
  await startVm(page, 'share');
  await waitForPrompt(page, 'share');
  const [vmId] = await shareIds(page);
  expect(vmId).toBeDefined();

  await writeShared(page, vmId!, 'x', 'from the page 4242\n');
  await run(page, 'share', 'cat /mnt/shared/x', 'from the page 4242');
  await run(page, 'share', 'echo guest-$((20+3)) > /mnt/shared/y; echo done-$((1+1))', 'done-2');
  expect(await readShared(page, vmId!, 'y')).toBe('guest-23\n');

  // A snapshot with a file held open on the share (fd 3), then a file the page adds after it.
  await run(page, 'share', 'exec 3</mnt/shared/x; echo held-$((2+2))', 'held-4');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  await writeShared(page, vmId!, 'z', 'after the snapshot 777\n');
  await restoreAndWait(page, 'share', 'Snapshot 1');
  // The folder is not rolled back: the restored guest sees z, reads through its old fd, and writes.
  await run(page, 'share', 'cat /mnt/shared/z', 'after the snapshot 777');
  await run(page, 'share', 'cat <&3', 'from the page 4242');
  await run(page, 'share', 'echo restored-$((30+3)) >> /mnt/shared/y; echo ok-$((3+3))', 'ok-6');
  expect(await readShared(page, vmId!, 'y')).toBe('guest-23\nrestored-33\n');

  // After a reload the folder is still there, and a new boot mounts it (the VM does not resume by itself).
  await keepStoppedOnReload(page);
  await page.reload();
  await selectVm(page, 'share');
  await expect(control(page, 'share', 'Start')).toBeEnabled();
  await startVm(page, 'share');
  await waitForPrompt(page, 'share');
  await run(page, 'share', 'cat /mnt/shared/y', 'restored-33');

  // Deleting the VM removes its folder.
  await control(page, 'share', 'Power off').click();
  await control(page, 'share', 'Delete').click();
  await page.getByRole('dialog', { name: 'Delete share?' }).getByRole('button', { name: 'Delete' }).click();
  await expect.poll(() => shareIds(page)).toEqual([]);
});

test('in the compatibility mode (no shared memory) the shared folder works too', async ({ page }) => {
  await page.goto(FALLBACK_URL);
  await expect(page.getByTestId('mode')).toHaveText(/Compatibility mode/);
  await createVm(page, 'compat-share', 64);
  await startVm(page, 'compat-share');
  await waitForPrompt(page, 'compat-share');
  const [vmId] = await shareIds(page);
  await writeShared(page, vmId!, 'x', 'compat 5151\n');
  await run(page, 'compat-share', 'cat /mnt/shared/x', 'compat 5151');
  await run(page, 'compat-share', 'echo $((60+6)) > /mnt/shared/y; echo w-$((4+4))', 'w-8');
  expect(await readShared(page, vmId!, 'y')).toBe('66\n');
});
