/**
 * Issue 15 part 6: Clone… of a snapshot as a linked clone. The clone starts from the original's snapshot
 * without a copy of it, has the guest state the snapshot holds, and its own snapshots store only what
 * changed; while it exists, neither that snapshot nor the original VM can be deleted (each refusal one
 * sentence), and once it is gone both can.
 */
import { test, expect } from '@playwright/test';
import { ISOLATED_URL } from '../playwright.config.ts';
import {
  BOOT_TIMEOUT,
  consoleOf,
  control,
  createVm,
  phaseOf,
  run,
  selectVm,
  snapshotButton,
  startVm,
  takeSnapshot,
  waitForPrompt,
} from './helpers.ts';

test('a linked clone shares the snapshot it starts from, and keeps it and its VM while it exists', async ({ page }) => {
  test.setTimeout(BOOT_TIMEOUT * 5);
  await page.goto(ISOLATED_URL);
  await createVm(page, 'orig');
  await startVm(page, 'orig');
  await waitForPrompt(page, 'orig');
  await run(page, 'orig', 'echo from-base > /root/mark; echo written-$((2+3))', 'written-5');
  await takeSnapshot(page, 'base');

  await snapshotButton(page, 'Clone', 'base').click();
  const dialog = page.getByRole('dialog', { name: 'Clone base' });
  await dialog.getByRole('radio', { name: /Linked clone/ }).check();
  await expect(dialog).toContainText('While a linked clone exists, this snapshot and orig cannot be deleted.');
  await dialog.getByLabel('Name of the new VM').fill('linked');
  await dialog.getByRole('button', { name: 'Clone', exact: true }).click();
  await expect(dialog).toBeHidden();

  // The clone runs the snapshot's guest, says what it is based on, and holds no copy of the base.
  await expect(phaseOf(page, 'linked')).toHaveAttribute('data-phase', 'running', { timeout: BOOT_TIMEOUT });
  const snapshots = page.getByTestId('snapshots');
  await expect(snapshots.getByTestId('linked-base')).toHaveText(
    'Linked clone of orig, from its snapshot “base”: its own snapshots store only what changed since.',
  );
  await run(page, 'linked', 'echo "mark=$(cat /root/mark)"', 'mark=from-base');
  await run(page, 'linked', 'echo clone-only > /root/clone; echo again-$((3+4))', 'again-7');
  await takeSnapshot(page, 'clone-1');
  await expect(snapshots.getByTestId('snapshot-clone-1')).toContainText('changes only');
  await expect(snapshots.getByTestId('snapshot-base')).toHaveCount(0);

  // The base and the original stay while the clone exists.
  await selectVm(page, 'orig');
  await snapshotButton(page, 'Delete', 'base').click();
  await page.getByRole('dialog', { name: 'Delete snapshot base?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('snapshot-error')).toContainText(
    'base cannot be deleted: it is the base of the linked clone linked. Delete it first.',
  );
  await expect(snapshotButton(page, 'Restore', 'base')).toBeVisible();
  await control(page, 'orig', 'Delete').click();
  await page.getByRole('dialog', { name: 'Delete orig?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('delete-error')).toContainText(
    'orig cannot be deleted while its linked clones exist (linked): they share its snapshots. Delete them first.',
  );
  await expect(phaseOf(page, 'orig')).toBeVisible();

  // After a reload the clone resumes its own newest state, over the base.
  await page.reload();
  await selectVm(page, 'linked');
  await expect(phaseOf(page, 'linked')).toHaveAttribute('data-phase', 'running', { timeout: BOOT_TIMEOUT });
  await expect(consoleOf(page, 'linked').locator('.xterm-rows')).toContainText('restored snapshot');
  await run(page, 'linked', 'echo "$(cat /root/mark) $(cat /root/clone)"', 'from-base clone-only');

  // Without the clone, both can go.
  await control(page, 'linked', 'Delete').click();
  await page.getByRole('dialog', { name: 'Delete linked?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('vm-item-linked')).toHaveCount(0);
  await selectVm(page, 'orig');
  await snapshotButton(page, 'Delete', 'base').click();
  await page.getByRole('dialog', { name: 'Delete snapshot base?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(snapshotButton(page, 'Restore', 'base')).toHaveCount(0);
});
