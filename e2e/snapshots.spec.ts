/**
 * Snapshots as a user takes them (issue 4): take, change, restore; restore after a reload; export to a
 * file and import it as a new VM; clone; a corrupted or truncated file refused with nothing stored;
 * resume from the automatic snapshot after a reload.
 */
import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { FALLBACK_URL } from '../playwright.config.ts';
import {
  cloneSnapshot,
  consoleText,
  control,
  createVm,
  keepStoppedOnReload,
  phaseOf,
  restoreAndWait,
  run,
  selectVm,
  snapshotButton,
  startVm,
  takeSnapshot,
  waitForPrompt,
} from './helpers.ts';

const shot = (name: string) => ({ path: `e2e/screenshots/${name}.png` });

test.beforeEach(async ({ page }, testInfo) => {
  if (testInfo.title.includes('compatibility mode')) return;
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
});

let tagCount = 0;

/**
 * Prints `expression` in the guest behind a fresh tag and returns the value (the echoed command line
 * cannot match the digits). The next prompt must follow, so a number drawn only in part is not read;
 * the shell may print a job's notice ("[1]+ Terminated …") between the value and that prompt.
 */
async function guestValue(page: Page, name: string, expression: string): Promise<number> {
  const tag = `V${++tagCount}x`;
  const answer = new RegExp(`${tag}=(\\d+)(?!\\d)[\\s\\S]*?root@tabvm`);
  await run(page, name, `echo ${tag}=${expression}`, answer);
  const match = answer.exec(await consoleText(page, name));
  expect(match, `value of ${expression}`).not.toBeNull();
  return Number(match![1]);
}

test('take a snapshot, change things, restore it; again after a reload; clone it', async ({ page }) => {
  await createVm(page, 'snap', 128);
  await startVm(page, 'snap');
  await waitForPrompt(page, 'snap');
  await run(page, 'snap', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 1; done &', '# ');
  await run(page, 'snap', 'echo $((1000+234)) > /tmp/f; echo wrote-$((1+1))', 'wrote-2');
  await expect.poll(() => guestValue(page, 'snap', '$(cat /tmp/c)'), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);

  // Read before the snapshot: the counter held at least this much when it was taken.
  const atSnapshot = await guestValue(page, 'snap', '$(cat /tmp/c)');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  await expect(page.getByTestId('snapshot-Snapshot 1')).toContainText('MiB');

  // Change things after the snapshot: the file, and the counter stops.
  await run(page, 'snap', 'kill %1; echo $((5000+678)) > /tmp/f; echo changed-$((2+2))', 'changed-4');
  expect(await guestValue(page, 'snap', '$(cat /tmp/f)')).toBe(5678);

  // A second snapshot is a child of the first: it stores only the changes.
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 2')).toContainText('changes only');
  await page.screenshot(shot('20-snapshots'));

  await restoreAndWait(page, 'snap', 'Snapshot 1');
  expect(await guestValue(page, 'snap', '$(cat /tmp/f)')).toBe(1234);
  const first = await guestValue(page, 'snap', '$(cat /tmp/c)');
  expect(first).toBeGreaterThanOrEqual(atSnapshot);
  // The background job was restored running: the counter goes on.
  await expect
    .poll(() => guestValue(page, 'snap', '$(cat /tmp/c)'), { timeout: 30_000 })
    .toBeGreaterThanOrEqual(first + 2);

  // Rename, then reload the page: the snapshots are still there and restore into a stopped VM.
  await snapshotButton(page, 'Rename', 'Snapshot 2').click();
  const dialog = page.getByRole('dialog', { name: 'Rename snapshot' });
  await dialog.getByLabel('Snapshot name').fill('after kill');
  await dialog.getByRole('button', { name: 'Rename' }).click();
  await expect(page.getByTestId('snapshot-after kill')).toBeVisible();

  await keepStoppedOnReload(page);
  await page.reload();
  await selectVm(page, 'snap');
  await expect(phaseOf(page, 'snap')).toHaveAttribute('data-phase', 'stopped');
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  await restoreAndWait(page, 'snap', 'after kill');
  expect(await guestValue(page, 'snap', '$(cat /tmp/f)')).toBe(5678);

  // Deleting the parent keeps the child restorable (it is re-based).
  await snapshotButton(page, 'Delete', 'Snapshot 1').click();
  await page
    .getByRole('dialog', { name: /Delete snapshot/ })
    .getByRole('button', { name: 'Delete' })
    .click();
  await expect(page.getByTestId('snapshot-Snapshot 1')).toHaveCount(0);
  await expect(page.getByTestId('snapshot-after kill')).not.toContainText('changes only');
  await run(page, 'snap', 'echo $((7000+1)) > /tmp/f; echo again-$((3+3))', 'again-6');
  await restoreAndWait(page, 'snap', 'after kill');
  expect(await guestValue(page, 'snap', '$(cat /tmp/f)')).toBe(5678);

  // Clone: a second VM from the snapshot, running beside the original with its own state.
  await cloneSnapshot(page, 'after kill');
  await expect(page.getByTestId('vm-item-snap-clone')).toBeVisible();
  await expect(phaseOf(page, 'snap-clone')).toHaveAttribute('data-phase', 'running');
  await run(page, 'snap-clone', 'echo $((9000+9)) > /tmp/f; echo cloned-$((4+4))', 'cloned-8');
  expect(await guestValue(page, 'snap-clone', '$(cat /tmp/f)')).toBe(9009);
  expect(await guestValue(page, 'snap', '$(cat /tmp/f)')).toBe(5678);
  await expect(phaseOf(page, 'snap')).toHaveAttribute('data-phase', 'running');
});

test('export to a file and import it as a new VM; corrupted and truncated files are refused', async ({ page }) => {
  await createVm(page, 'exp', 96);
  await startVm(page, 'exp');
  await waitForPrompt(page, 'exp');
  await run(page, 'exp', 'echo $((4000+321)) > /tmp/f; echo wrote-$((1+2))', 'wrote-3');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  await run(page, 'exp', 'echo $((6000+1)) > /tmp/f; echo changed-$((2+5))', 'changed-7');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 2')).toContainText('changes only');

  // A full disk while saving: the second write of the next snapshot fails as IndexedDB does when the
  // quota is exceeded. A clear message; the snapshots before it are still listed and restorable.
  await page.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    let writes = 0;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if (this.name === 'files' && ++writes === 2) {
        IDBObjectStore.prototype.put = put;
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      }
      return put.call(this, value, key);
    };
  });
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-error')).toContainText(
    /not enough storage space.*Earlier snapshots are intact/,
  );
  await expect(page.locator('[data-testid^="snapshot-Snapshot "]')).toHaveCount(2);
  await page.getByTestId('snapshot-error').getByRole('button', { name: 'Dismiss' }).click();

  // Export the child: the file is self-contained (its chain merged).
  const downloading = page.waitForEvent('download');
  await snapshotButton(page, 'Export', 'Snapshot 2').click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('exp-Snapshot-2.tabvm');
  const bytes = readFileSync((await download.path())!);
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('TABVMSNP');

  const vmCount = async () => page.locator('[data-testid^="vm-item-"]').count();
  const before = await vmCount();
  const refused = async (name: string, buffer: Buffer, message: RegExp) => {
    await page.getByTestId('import-snapshot').setInputFiles({ name, mimeType: 'application/octet-stream', buffer });
    await expect(page.getByTestId('import-error')).toContainText(message);
    expect(await vmCount()).toBe(before);
    await page.getByTestId('import-error').getByRole('button', { name: 'Dismiss' }).click();
  };
  const corrupted = Buffer.from(bytes);
  corrupted[corrupted.length >> 1]! ^= 0x20;
  await refused('corrupted.tabvm', corrupted, /corrupted \(checksum mismatch\)/);
  await refused('truncated.tabvm', bytes.subarray(0, bytes.length - 100), /truncated/);
  await refused('foreign.tabvm', Buffer.from('PK\x03\x04 not a snapshot at all'), /not a tabvm snapshot/);
  const newer = Buffer.from(bytes);
  newer.writeUInt32LE(99, 8);
  await refused('newer.tabvm', newer, /version 99 is newer/);

  await page
    .getByTestId('import-snapshot')
    .setInputFiles({ name: 'exp-Snapshot-2.tabvm', mimeType: 'application/octet-stream', buffer: bytes });
  await expect(page.getByTestId('vm-item-exp-Snapshot-2')).toBeVisible();
  expect(await vmCount()).toBe(before + 1);
  await selectVm(page, 'exp-Snapshot-2');
  await expect(page.getByText('96 MiB').first()).toBeVisible();
  await restoreAndWait(page, 'exp-Snapshot-2', 'imported from exp-Snapshot-2.tabvm');
  expect(await guestValue(page, 'exp-Snapshot-2', '$(cat /tmp/f)')).toBe(6001);
  await page.screenshot(shot('21-imported'));
});

test('a VM running when the tab closed resumes from its automatic snapshot after a reload', async ({ page }) => {
  await createVm(page, 'auto', 96);
  await startVm(page, 'auto');
  await waitForPrompt(page, 'auto');
  await run(page, 'auto', 'echo $((3000+33)) > /tmp/f; echo wrote-$((2+7))', 'wrote-9');
  const written = Date.now();
  // The automatic snapshot is renewed every 30 s; wait for one taken after the file was written.
  const status = page.getByTestId('autosave-status');
  await expect
    .poll(async () => Number((await status.getAttribute('data-saved-at')) || 0), { timeout: 75_000 })
    .toBeGreaterThan(written);
  await expect(status).toContainText(/Automatic snapshot: \d+ s ago/);

  await keepStoppedOnReload(page);
  await page.reload();
  await selectVm(page, 'auto');
  await expect(phaseOf(page, 'auto')).toHaveAttribute('data-phase', 'stopped');
  await page.getByRole('button', { name: 'Resume from automatic snapshot' }).click();
  await expect(phaseOf(page, 'auto')).toHaveAttribute('data-phase', 'running');
  expect(await guestValue(page, 'auto', '$(cat /tmp/f)')).toBe(3033);
});

/** How many snapshot records this browser's IndexedDB holds, and the VMs listed as being deleted. */
async function stored(page: Page): Promise<{ snapshots: number; deleting: unknown }> {
  return page.evaluate(async () => {
    const all = async (db: string, store: string) => {
      const open = indexedDB.open(db);
      const database = await new Promise<IDBDatabase>((resolve, reject) => {
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const request = database.transaction(store).objectStore(store).getAll();
      const values = await new Promise<unknown[]>((resolve) => (request.onsuccess = () => resolve(request.result)));
      const keys = database.transaction(store).objectStore(store).getAllKeys();
      const names = await new Promise<IDBValidKey[]>((resolve) => (keys.onsuccess = () => resolve(keys.result)));
      database.close();
      return names.map((key, i) => [key, values[i]] as const);
    };
    const snapshots = (await all('tabvm-snapshots', 'files')).filter(([key]) => String(key).startsWith('snap:'));
    const library = await all('tabvm', 'library');
    return { snapshots: snapshots.length, deleting: library.find(([key]) => key === 'deleting-v1')?.[1] };
  });
}

test('a VM deletion cut short half way is finished at the next start', async ({ page }) => {
  await createVm(page, 'gone', 64);
  await startVm(page, 'gone');
  await waitForPrompt(page, 'gone');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  expect((await stored(page)).snapshots).toBeGreaterThanOrEqual(1);

  // Removing its snapshots fails, as if the tab were closed just then.
  await page.evaluate(() => {
    const remove = IDBObjectStore.prototype.delete;
    IDBObjectStore.prototype.delete = function (this: IDBObjectStore, key: IDBValidKey | IDBKeyRange) {
      if (this.transaction.db.name === 'tabvm-snapshots') throw new DOMException('the page was closed', 'AbortError');
      return remove.call(this, key);
    };
  });
  await control(page, 'gone', 'Delete').click();
  await page.getByRole('dialog', { name: 'Delete gone?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('delete-error')).toContainText(
    'gone was deleted, but some of its data could not be removed yet (the page was closed)',
  );
  await expect(page.getByTestId('vm-item-gone')).toHaveCount(0);
  expect((await stored(page)).snapshots).toBeGreaterThanOrEqual(1);

  await page.reload();
  await expect(page.getByRole('heading', { name: 'Create your first virtual machine' })).toBeVisible();
  await expect.poll(() => stored(page)).toEqual({ snapshots: 0, deleting: [] });
});

test('in the compatibility mode (no shared memory) a snapshot restores too', async ({ page }) => {
  await page.goto(FALLBACK_URL);
  await expect(page.getByTestId('mode')).toHaveText(/Compatibility mode/);
  await createVm(page, 'compat-snap', 64);
  await startVm(page, 'compat-snap');
  await waitForPrompt(page, 'compat-snap');
  await run(page, 'compat-snap', 'echo $((8000+80)) > /tmp/f; echo wrote-$((5+5))', 'wrote-10');
  await takeSnapshot(page);
  await expect(page.getByTestId('snapshot-Snapshot 1')).toBeVisible();
  await run(page, 'compat-snap', 'rm /tmp/f; echo removed-$((6+6))', 'removed-12');
  await restoreAndWait(page, 'compat-snap', 'Snapshot 1');
  expect(await guestValue(page, 'compat-snap', '$(cat /tmp/f)')).toBe(8080);
});
