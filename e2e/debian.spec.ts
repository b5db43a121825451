/**
 * Debian through the UI, as a person uses it: pick Debian 13 (trixie) in the New VM dialog, boot it (the
 * disk downloads as the guest reads it), use bash, apt and python3, write a file, reboot, reload the page,
 * start the VM again and find the file; Reset disk then brings back the image's disk. Needs public/images/debian (npm test builds it first).
 */
import { test, expect } from '@playwright/test';
import {
  consoleOf,
  control,
  createVm,
  DEBIAN,
  phaseOf,
  run,
  startVm,
  waitForLogin,
  keepStoppedOnReload,
} from './helpers.ts';

test('Debian: trixie, apt and python3; a file written before a reboot and a page reload is still there', async ({
  page,
}) => {
  test.setTimeout(900_000);
  await page.goto('/');
  await createVm(page, 'deb', undefined, DEBIAN);
  await startVm(page, 'deb');
  await waitForLogin(page, 'deb');
  // The pane says how much of the disk came over the network so far.
  await expect(page.getByTestId('disk-downloaded')).toContainText(/[\d.]+ MiB of [\d.]+ MiB/);

  await run(page, 'deb', 'clear; grep CODENAME /etc/os-release', 'VERSION_CODENAME=trixie');
  await run(page, 'deb', 'clear; apt-get --version | head -n 1', /apt \d+\.\d+/);
  await run(page, 'deb', "clear; python3 -c 'print(6*7+1000)'", '1042');
  await run(page, 'deb', 'clear; echo kept-$((6*7)) > /root/e2e.txt && sync && echo synced-$((1+1))', 'synced-2');
  // `clear` first, so the login banner that appears next is the rebooted system's. (The reboot's own
  // lines scroll by too fast to be waited for.)
  await consoleOf(page, 'deb').click();
  await page.keyboard.type('clear; reboot');
  await page.keyboard.press('Enter');
  await waitForLogin(page, 'deb');
  await run(page, 'deb', 'clear; cat /root/e2e.txt', 'kept-42');

  await keepStoppedOnReload(page);
  await page.reload();
  await expect(phaseOf(page, 'deb')).toHaveAttribute('data-phase', 'stopped');
  await startVm(page, 'deb');
  await waitForLogin(page, 'deb');
  await run(page, 'deb', 'clear; cat /root/e2e.txt', 'kept-42');

  // Reset disk: asks first (Cancel keeps everything), powers the VM off, and the next boot has the image's disk.
  await control(page, 'deb', 'Reset disk').click();
  const confirm = page.getByRole('dialog', { name: 'Reset the disk of deb?' });
  await expect(confirm).toContainText('The VM is powered off first.');
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(phaseOf(page, 'deb')).toHaveAttribute('data-phase', 'running');
  await control(page, 'deb', 'Reset disk').click();
  await confirm.getByRole('button', { name: 'Reset disk' }).click();
  await expect(phaseOf(page, 'deb')).toHaveAttribute('data-phase', 'stopped');
  await control(page, 'deb', 'Start').click();
  await waitForLogin(page, 'deb');
  await run(page, 'deb', 'clear; cat /root/e2e.txt', 'No such file or directory');
  await control(page, 'deb', 'Power off').click();
  await expect(phaseOf(page, 'deb')).toHaveAttribute('data-phase', 'stopped');
});
