/**
 * Snapshots of a VM with a disk (Debian: virtio-blk over the image, the guest's writes in a copy-on-write
 * overlay in IndexedDB), through the UI, on one boot: a snapshot holds the disk as well as RAM, so
 * restoring it brings back deleted files and removes later ones, also after a reload; hiding the page
 * saves the automatic snapshot, from which the reloaded page resumes with disk and RAM; a clone and an
 * imported export each get a disk of their own, and what one writes the others never see.
 */
import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  cloneSnapshot,
  createVm,
  DEBIAN,
  keepStoppedOnReload,
  phaseOf,
  restoreAndWait,
  run,
  selectVm,
  snapshotButton,
  startVm,
  takeSnapshot,
  waitForLogin,
} from './helpers.ts';

let tagCount = 0;

/**
 * What the guest sees, as one word: /root/a, /root/b, /root/c (on the disk), /run/r (in RAM: /run is a
 * tmpfs) and the shell variable V, each `-` when absent, e.g. `A,-,-,R,7`. `clear` first, so the answer
 * is read from the screen below a fresh tag, never from an earlier command.
 */
async function guestState(page: Page, name: string): Promise<string> {
  const tag = `S${++tagCount}x`;
  const answer = new RegExp(`${tag}=(\\S+)\\s*root@debian`);
  await run(
    page,
    name,
    `clear; echo ${tag}=$(for f in /root/a /root/b /root/c /run/r; do cat $f 2>/dev/null || echo -; done | tr '\\n' ,)\${V:--}`,
    answer,
  );
  const text = (await page.getByTestId(`console-${name}`).locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ');
  const match = answer.exec(text);
  expect(match, `state of ${name}`).not.toBeNull();
  return match![1]!;
}

/** Runs a shell line in the guest, then `sync`, and waits until both are done. */
async function write(page: Page, name: string, commands: string): Promise<void> {
  const tag = `W${++tagCount}x`;
  await run(page, name, `clear; ${commands}; sync; echo ${tag}-$((40+2))`, `${tag}-42`);
}

/** The page is hidden as when the person switches tabs or the phone locks (`visibilitychange`). */
async function hidePage(page: Page): Promise<void> {
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

test('Debian: a snapshot holds the disk; restore, reload, resume after the page was hidden, clone, export and import', async ({
  page,
}) => {
  test.setTimeout(1_500_000);
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
  await createVm(page, 'dsnap', undefined, DEBIAN);
  await startVm(page, 'dsnap');
  await waitForLogin(page, 'dsnap');
  // /run/r lives in RAM only.
  await run(page, 'dsnap', "clear; echo mounted-$(grep -c ' /run tmpfs' /proc/mounts)", 'mounted-1');

  await write(page, 'dsnap', 'echo A > /root/a; echo R > /run/r; V=7');
  expect(await guestState(page, 'dsnap')).toBe('A,-,-,R,7');
  // The pane's uptime is the guest's clock: what it shows now, the snapshot's time is at least.
  const uptimeBefore = Number(await page.getByTestId('uptime').getAttribute('data-ms'));
  expect(uptimeBefore).toBeGreaterThan(0);
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();

  // After the snapshot: a new file, the old one and the RAM file gone, the variable changed.
  await write(page, 'dsnap', 'echo B > /root/b; rm /root/a /run/r; V=8');
  expect(await guestState(page, 'dsnap')).toBe('-,B,-,-,8');

  await restoreAndWait(page, 'dsnap', 'Snapshot 1');
  expect(Number(await page.getByTestId('uptime').getAttribute('data-ms'))).toBeGreaterThanOrEqual(uptimeBefore);
  expect(await guestState(page, 'dsnap')).toBe('A,-,-,R,7');

  // Work on, hide the page: the automatic snapshot is saved then, with the disk and RAM as they are.
  await write(page, 'dsnap', 'echo C > /root/c; echo S > /run/r; V=9');
  const status = page.getByTestId('autosave-status');
  const hiddenAt = Date.now();
  await hidePage(page);
  await expect
    .poll(async () => Number((await status.getAttribute('data-saved-at')) || 0), { timeout: 120_000 })
    .toBeGreaterThan(hiddenAt);

  await keepStoppedOnReload(page);
  await page.reload();
  await selectVm(page, 'dsnap');
  await expect(phaseOf(page, 'dsnap')).toHaveAttribute('data-phase', 'stopped');
  await expect(status).toContainText(/Automatic snapshot: \d+ (s|min) ago/);
  await page.getByRole('button', { name: 'Resume from automatic snapshot' }).click();
  await expect(phaseOf(page, 'dsnap')).toHaveAttribute('data-phase', 'running');
  expect(await guestState(page, 'dsnap')).toBe('A,-,C,S,9');

  // Restoring after the reload: /root/c, written after the snapshot, is gone again.
  await restoreAndWait(page, 'dsnap', 'Snapshot 1');
  expect(await guestState(page, 'dsnap')).toBe('A,-,-,R,7');

  // A clone starts with the snapshot's disk; writes on either side stay there.
  await cloneSnapshot(page, 'Snapshot 1');
  await expect(page.getByTestId('vm-item-dsnap-clone')).toBeVisible();
  await expect(phaseOf(page, 'dsnap-clone')).toHaveAttribute('data-phase', 'running');
  expect(await guestState(page, 'dsnap-clone')).toBe('A,-,-,R,7');
  await write(page, 'dsnap-clone', 'echo K > /root/b; rm /root/a');
  await write(page, 'dsnap', 'echo O > /root/c');
  expect(await guestState(page, 'dsnap-clone')).toBe('-,K,-,R,7');
  expect(await guestState(page, 'dsnap')).toBe('A,-,O,R,7');
  await selectVm(page, 'dsnap-clone');
  await page
    .getByRole('toolbar', { name: 'Controls for dsnap-clone' })
    .getByRole('button', { name: 'Power off', exact: true })
    .click();
  await expect(phaseOf(page, 'dsnap-clone')).toHaveAttribute('data-phase', 'stopped');

  // Export: one file with RAM and the disk's overlay; imported, it is a VM of its own with that disk.
  await selectVm(page, 'dsnap');
  const downloading = page.waitForEvent('download');
  await snapshotButton(page, 'Export', 'Snapshot 1').click();
  const download = await downloading;
  const bytes = readFileSync((await download.path())!);
  await page
    .getByTestId('import-snapshot')
    .setInputFiles({ name: 'dsnap-p.tabvm', mimeType: 'application/octet-stream', buffer: bytes });
  await expect(page.getByTestId('vm-item-dsnap-p')).toBeVisible();
  await selectVm(page, 'dsnap-p');
  await expect(page.getByText('debian · 256 MiB').first()).toBeVisible();
  await restoreAndWait(page, 'dsnap-p', 'imported from dsnap-p.tabvm');
  expect(await guestState(page, 'dsnap-p')).toBe('A,-,-,R,7');
  await write(page, 'dsnap-p', 'echo I > /root/b');
  expect(await guestState(page, 'dsnap-p')).toBe('A,I,-,R,7');
  expect(await guestState(page, 'dsnap')).toBe('A,-,O,R,7');

  // The clone's disk was its own in storage too: booted cold after a reload, it has the clone's files.
  await page.reload();
  await startVm(page, 'dsnap-clone');
  await waitForLogin(page, 'dsnap-clone');
  expect(await guestState(page, 'dsnap-clone')).toBe('-,K,-,-,-');
});
