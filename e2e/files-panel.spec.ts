/**
 * The Files panel (issue 14, "In the app"): a VM's shared folder listed, files and folders copied in by
 * Upload and by a drop on the console, downloaded (a file: the same bytes; a folder: a zip whose entries
 * match), renamed, deleted, made; a name clash asked; all still there after a reload; and the guest sees
 * it at /mnt/shared, and what it writes there shows up in the panel. Cross-origin isolated page.
 */
import { test, expect, type Download, type Page } from '@playwright/test';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { consoleOf, createVm, run, startVm, waitForPrompt } from './helpers.ts';

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
});

const shot = (name: string) => ({ path: `e2e/screenshots/${name}.png` });

function panel(page: Page) {
  return page.getByTestId('files');
}

function row(page: Page, name: string) {
  return panel(page).getByTestId(`file-${name}`);
}

async function showFiles(page: Page): Promise<void> {
  const toggle = panel(page).getByRole('button', { name: /^(Show|Hide) files$/ });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
}

async function downloadBytes(page: Page, name: string): Promise<{ download: Download; bytes: Buffer }> {
  const downloading = page.waitForEvent('download');
  await panel(page)
    .getByRole('button', { name: `Download ${name}`, exact: true })
    .click();
  const download = await downloading;
  return { download, bytes: readFileSync(await download.path()) };
}

async function uploadFiles(page: Page, files: { name: string; content: string | Buffer }[]): Promise<void> {
  const choosing = page.waitForEvent('filechooser');
  await panel(page).getByRole('button', { name: 'Upload files…' }).click();
  const chooser = await choosing;
  expect(chooser.isMultiple()).toBe(true);
  await chooser.setFiles(
    files.map(({ name, content }) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(content) })),
  );
}

test('files and folders go in by Upload, come out as the same bytes and as a zip, and stay after a reload', async ({
  page,
}) => {
  await createVm(page, 'files-page');
  await showFiles(page);
  await expect(panel(page)).toContainText('Empty.');
  await expect(page.getByTestId('files-note')).toContainText('snapshots do not roll it back');

  // A file dropped beside the targets is refused (the browser would otherwise open it in place of the page).
  const stray = await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['x'], 'stray.txt'));
    const drop = new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true });
    document.querySelector('.sidebar')!.dispatchEvent(drop);
    return drop.defaultPrevented;
  });
  expect(stray).toBe(true);

  // Two files by the file chooser; 3 MiB of a pattern so the copy takes several chunks.
  const big = Buffer.alloc(3 * 1048576 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
  await uploadFiles(page, [
    { name: 'hello.txt', content: 'hello from the page\n' },
    { name: 'big.bin', content: big },
  ]);
  await expect(page.getByTestId('files-notice')).toHaveText('Copied 2 files (3.0 MiB) to /mnt/shared.');
  await expect(row(page, 'hello.txt')).toContainText('20 B');
  await expect(row(page, 'big.bin')).toContainText('3.0 MiB');
  expect((await downloadBytes(page, 'big.bin')).bytes.equals(big)).toBe(true);

  // The same name again: the question, and Keep both gives the copy a number.
  await uploadFiles(page, [{ name: 'hello.txt', content: 'second hello\n' }]);
  const clash = page.getByRole('dialog', { name: '“hello.txt” is already here' });
  await expect(clash).toBeVisible();
  await page.screenshot(shot('31-files-clash'));
  await clash.getByRole('button', { name: 'Keep both' }).click();
  await expect(row(page, 'hello (1).txt')).toBeVisible();
  const second = await downloadBytes(page, 'hello (1).txt');
  expect(second.download.suggestedFilename()).toBe('hello (1).txt');
  expect(second.bytes.toString()).toBe('second hello\n');
  expect((await downloadBytes(page, 'hello.txt')).bytes.toString()).toBe('hello from the page\n');

  // A folder by the folder chooser (webkitdirectory): its tree arrives whole.
  const local = mkdtempSync(join(tmpdir(), 'tabvm-files-'));
  mkdirSync(join(local, 'project', 'src'), { recursive: true });
  writeFileSync(join(local, 'project', 'README'), 'read me\n');
  writeFileSync(join(local, 'project', 'src', 'main.c'), 'int main(void) { return 0; }\n');
  const choosing = page.waitForEvent('filechooser');
  await panel(page).getByRole('button', { name: 'Upload folder…' }).click();
  await (await choosing).setFiles(join(local, 'project'));
  await expect(row(page, 'project')).toBeVisible();
  await expect(page.getByTestId('files-notice')).toHaveText(/^Copied 2 files/);
  await page.screenshot(shot('30-files-panel'));
  await page.setViewportSize({ width: 800, height: 600 });
  await expect(row(page, 'project')).toBeVisible();
  await page.screenshot(shot('32-files-panel-800x600'));
  await page.setViewportSize({ width: 1280, height: 800 });

  // Into the folder, a new folder there, and back by the breadcrumb.
  await panel(page).getByRole('button', { name: 'Open folder project' }).click();
  await expect(panel(page).getByRole('navigation', { name: 'Folder path' })).toHaveText('shared / project');
  await expect(row(page, 'README')).toBeVisible();
  await panel(page).getByRole('button', { name: 'New folder' }).click();
  const newFolder = page.getByRole('dialog', { name: 'New folder' });
  await newFolder.getByLabel('Folder name').fill('empty');
  await newFolder.getByRole('button', { name: 'Create' }).click();
  await expect(row(page, 'empty')).toBeVisible();
  await panel(page).getByRole('navigation', { name: 'Folder path' }).getByRole('button', { name: 'shared' }).click();
  await expect(row(page, 'big.bin')).toBeVisible();

  // The folder as a zip: its entries and bytes, the empty folder included.
  const zipped = await downloadBytes(page, 'project');
  expect(zipped.download.suggestedFilename()).toBe('project.zip');
  const entries = unzipSync(new Uint8Array(zipped.bytes));
  expect(Object.keys(entries).sort()).toEqual(['README', 'empty/', 'src/', 'src/main.c']);
  expect(Buffer.from(entries['README']!).toString()).toBe('read me\n');
  expect(Buffer.from(entries['src/main.c']!).toString()).toBe('int main(void) { return 0; }\n');

  // Rename (a taken name is refused), then delete after the confirmation.
  await panel(page).getByRole('button', { name: 'Rename hello (1).txt' }).click();
  const rename = page.getByRole('dialog', { name: 'Rename hello (1).txt' });
  await rename.getByLabel('New name').fill('hello.txt');
  await rename.getByRole('button', { name: 'Rename' }).click();
  await expect(page.getByTestId('files-error')).toContainText(
    'Something called “hello.txt” is already in this folder.',
  );
  await page.getByTestId('files-error').getByRole('button', { name: 'Dismiss' }).click();
  await panel(page).getByRole('button', { name: 'Rename hello (1).txt' }).click();
  await rename.getByLabel('New name').fill('second.txt');
  await rename.getByRole('button', { name: 'Rename' }).click();
  await expect(row(page, 'second.txt')).toBeVisible();
  await expect(row(page, 'hello (1).txt')).toHaveCount(0);
  await panel(page).getByRole('button', { name: 'Delete big.bin' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete big.bin?' });
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(row(page, 'big.bin')).toHaveCount(0);

  // A reload keeps all of it (the folder is the browser's storage), and the panel stays open.
  await page.reload();
  await expect(panel(page).getByRole('button', { name: 'Hide files' })).toBeVisible();
  await expect(panel(page).locator('tbody tr')).toHaveCount(3);
  for (const name of ['project', 'hello.txt', 'second.txt']) await expect(row(page, name)).toBeVisible();
  expect((await downloadBytes(page, 'second.txt')).bytes.toString()).toBe('second hello\n');
});

test('a file dropped on the console is in the guest, and what the guest writes shows up, downloads, renames and goes', async ({
  page,
}) => {
  await createVm(page, 'files-guest');
  await startVm(page, 'files-guest');
  await waitForPrompt(page, 'files-guest');
  await showFiles(page);

  // A synthetic drop, as the browser makes one for a file dragged from the desktop.
  const dataTransfer = await page.evaluateHandle(() => {
    const data = new DataTransfer();
    data.items.add(new File(['dropped on the console\n'], 'dropped.txt', { type: 'text/plain' }));
    return data;
  });
  await consoleOf(page, 'files-guest').dispatchEvent('dragover', { dataTransfer });
  await consoleOf(page, 'files-guest').dispatchEvent('drop', { dataTransfer });
  await expect(page.getByTestId('files-notice')).toHaveText('Copied 1 file (23 B) to /mnt/shared.');
  await run(page, 'files-guest', 'cat /mnt/shared/dropped.txt', 'dropped on the console');

  // What the guest writes appears without a reload (the panel lists the folder again while shown).
  await run(
    page,
    'files-guest',
    'echo hi > /mnt/shared/out.txt; mkdir -p /mnt/shared/dir/sub; echo a > /mnt/shared/dir/a.txt; echo b > /mnt/shared/dir/sub/b.txt; echo wr""ote',
    'wrote',
  );
  await expect(row(page, 'out.txt')).toContainText('3 B');
  const out = await downloadBytes(page, 'out.txt');
  expect(out.bytes.toString()).toBe('hi\n');
  const zipped = unzipSync(new Uint8Array((await downloadBytes(page, 'dir')).bytes));
  expect(Object.keys(zipped).sort()).toEqual(['a.txt', 'sub/', 'sub/b.txt']);
  expect(Buffer.from(zipped['a.txt']!).toString()).toBe('a\n');
  expect(Buffer.from(zipped['sub/b.txt']!).toString()).toBe('b\n');

  // Renamed and deleted in the panel: the guest sees it at once.
  await panel(page).getByRole('button', { name: 'Rename out.txt' }).click();
  const rename = page.getByRole('dialog', { name: 'Rename out.txt' });
  await rename.getByLabel('New name').fill('result.txt');
  await rename.getByRole('button', { name: 'Rename' }).click();
  await expect(row(page, 'result.txt')).toBeVisible();
  await run(
    page,
    'files-guest',
    'cat /mnt/shared/result.txt; ls /mnt/shared | tr "\\n" " "; echo END',
    /hi\s*dir dropped\.txt result\.txt END/,
  );
  await panel(page).getByRole('button', { name: 'Delete dir' }).click();
  await page.getByRole('dialog', { name: 'Delete dir?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(row(page, 'dir')).toHaveCount(0);
  await run(page, 'files-guest', 'ls /mnt/shared | tr "\\n" " "; echo END2', /dropped\.txt result\.txt END2/);

  // The guest removes a file: it leaves the panel.
  await run(page, 'files-guest', 'rm /mnt/shared/dropped.txt; echo g""one', 'gone');
  await expect(row(page, 'dropped.txt')).toHaveCount(0);
  await expect(row(page, 'result.txt')).toBeVisible();

  // A file the guest holds open for writing downloads as it is; deleting it is refused in one sentence,
  // and the guest writes on.
  await run(page, 'files-guest', 'exec 3>>/mnt/shared/held.txt; echo one >&3; echo o""pened', 'opened');
  await expect(row(page, 'held.txt')).toContainText('4 B');
  expect((await downloadBytes(page, 'held.txt')).bytes.toString()).toBe('one\n');
  await panel(page).getByRole('button', { name: 'Delete held.txt' }).click();
  await page.getByRole('dialog', { name: 'Delete held.txt?' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('files-error')).toHaveText(
    /The guest has that file open for writing; try again once it has closed it\./,
  );
  await run(
    page,
    'files-guest',
    'echo two >&3; exec 3>&-; cat /mnt/shared/held.txt | tr "\\n" " "; echo E""ND3',
    'one two END3',
  );
  await expect(row(page, 'held.txt')).toContainText('8 B');
});
