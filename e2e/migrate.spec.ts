/**
 * "Move here" (issue 15 item 2): a VM running in one tab moves live to another tab of the same browser.
 * The guest goes on where it was — a counter a shell loop keeps writing continues from its value, a file
 * written in /tmp before the move is there, a file in the shared folder still reads through a
 * descriptor opened before, uptime continues — and the console's scrollback comes along; the first tab
 * then shows the VM as running elsewhere. A move whose target tab closes half-way leaves the VM running
 * in the first tab.
 */
import { test, expect, type Page } from '@playwright/test';
import { FALLBACK_URL } from '../playwright.config.ts';
import {
  BOOT_TIMEOUT,
  DEBIAN,
  DEBIAN_BOOT_TIMEOUT,
  waitForLogin,
  consoleOf,
  consoleText,
  createVm,
  phaseOf,
  run,
  selectVm,
  startVm,
  waitForPrompt,
} from './helpers.ts';

/** The counter the guest's loop wrote last, read by a command whose output is marked so that it can be found. */
async function counter(page: Page, name: string, tag: string): Promise<number> {
  await run(page, name, `echo ${tag}-$(cat /tmp/c)-end`, new RegExp(`${tag}-\\d+-end`));
  const matches = [...(await consoleText(page, name)).matchAll(new RegExp(`${tag}-(\\d+)-end`, 'g'))];
  return Number(matches.at(-1)![1]);
}

async function startCounting(page: Page, name: string): Promise<void> {
  await startVm(page, name);
  await waitForPrompt(page, name);
  await run(
    page,
    name,
    'i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.2; done &',
    /done &\s*root@tabvm:~# /,
  );
  await run(page, name, 'echo written-$((40+2)) > /tmp/mark; echo marked-$((1+1))', 'marked-2');
}

test('Move here moves a running VM to this tab live: its state, its timers and its scrollback go on', async ({
  context,
}) => {
  const first = await context.newPage();
  await first.goto('/');
  await createVm(first, 'mover', 96);
  await startCounting(first, 'mover');
  await run(
    first,
    'mover',
    'echo shared-$((70+7)) > /mnt/shared/m; exec 3</mnt/shared/m; echo opened-$((2+3))',
    'opened-5',
  );
  await run(first, 'mover', 'echo before-the-move-$((6*7))', 'before-the-move-42');
  const before = await counter(first, 'mover', 'pre');
  const uptimeBefore = Number(await first.getByTestId('uptime').getAttribute('data-ms'));

  const second = await context.newPage();
  await second.goto('/');
  await selectVm(second, 'mover');
  await expect(second.getByTestId('elsewhere')).toBeVisible();
  await second.getByTestId('elsewhere').getByRole('button', { name: 'Move here' }).click();
  await expect(phaseOf(second, 'mover')).toHaveAttribute('data-phase', 'running', { timeout: BOOT_TIMEOUT });

  // The scrollback came along: what the guest printed in the first tab shows in the second.
  await expect(consoleOf(second, 'mover').locator('.xterm-rows')).toContainText('before-the-move-42');
  await expect(consoleOf(second, 'mover').locator('.xterm-rows')).toContainText('moved here from another tab');
  // The same guest, not a new boot: the loop counts on from where it was, the files are there.
  const after = await counter(second, 'mover', 'post');
  expect(after).toBeGreaterThanOrEqual(before);
  await expect.poll(() => counter(second, 'mover', 'later'), { timeout: 30_000 }).toBeGreaterThan(after);
  await run(second, 'mover', 'cat /tmp/mark', 'written-42');
  await run(second, 'mover', 'cat <&3; echo read-$((3+4))', /shared-77\s*read-7/);
  expect(Number(await second.getByTestId('uptime').getAttribute('data-ms'))).toBeGreaterThanOrEqual(uptimeBefore);

  // The first tab let it go: it shows the VM as running in another tab.
  await expect(phaseOf(first, 'mover')).toHaveAttribute('data-phase', 'stopped');
  await expect(first.getByTestId('elsewhere')).toBeVisible();
  await expect(first.getByTestId('vm-item-mover')).toContainText('Running in another tab');

  const figures = await moveFigures(second, 'the default image');
  expect(figures.rounds).toBeGreaterThanOrEqual(2);
  expect(figures.bytes).toBeGreaterThan(0);
});

/** Reads what the move cost from the pane of the tab it moved to, and prints it (docs/migration.md). */
async function moveFigures(page: Page, what: string) {
  const moved = page.getByTestId('moved-here');
  await expect(moved).toBeVisible();
  const figures = {
    pauseMs: Number(await moved.getAttribute('data-pause-ms')),
    totalMs: Number(await moved.getAttribute('data-total-ms')),
    bytes: Number(await moved.getAttribute('data-bytes')),
    rounds: Number(await moved.getAttribute('data-rounds')),
  };
  console.log(`move of ${what}: ${JSON.stringify(figures)}`);
  return figures;
}

test('a Debian VM moves with its disk: what it wrote before the move reads after it', async ({ context }) => {
  test.setTimeout(DEBIAN_BOOT_TIMEOUT * 2);
  const first = await context.newPage();
  await first.goto('/');
  await createVm(first, 'deb-mover', undefined, DEBIAN);
  await startVm(first, 'deb-mover');
  await waitForLogin(first, 'deb-mover');
  await run(first, 'deb-mover', 'echo disk-$((5*5)) > /root/moved; sync; echo synced-$((2+2))', 'synced-4');

  const second = await context.newPage();
  await second.goto('/');
  await selectVm(second, 'deb-mover');
  await second.getByTestId('elsewhere').getByRole('button', { name: 'Move here' }).click();
  await expect(phaseOf(second, 'deb-mover')).toHaveAttribute('data-phase', 'running', { timeout: DEBIAN_BOOT_TIMEOUT });
  await moveFigures(second, 'a Debian VM');
  await run(second, 'deb-mover', 'cat /root/moved; echo x-$((9*9))', /disk-25\s*x-81/);
  await run(second, 'deb-mover', 'echo after > /root/after; sync; cat /root/after', /after\s*root@debian/);
  await expect(phaseOf(first, 'deb-mover')).toHaveAttribute('data-phase', 'stopped');
});

test('closing the target tab during a move leaves the VM running in the first tab', async ({ context }) => {
  const first = await context.newPage();
  await first.goto('/');
  await createVm(first, 'stayer', 96);
  await startCounting(first, 'stayer');
  const before = await counter(first, 'stayer', 'pre');

  const second = await context.newPage();
  await second.goto('/');
  await selectVm(second, 'stayer');
  await expect(second.getByTestId('elsewhere')).toBeVisible();
  // The restored worker's CPU core is held back, so that the tab closes while the guest is paused in the
  // first tab, after the final round and before the second tab runs it: the hardest moment.
  let coreRequested!: () => void;
  const restoring = new Promise<void>((resolve) => (coreRequested = resolve));
  await second.route(/\/core-[\w-]*\.wasm$/, async () => coreRequested());
  await second.getByTestId('elsewhere').getByRole('button', { name: 'Move here' }).click();
  await restoring;
  await second.close();

  // The first tab takes the VM back once the move times out, and the guest counts on.
  await expect(phaseOf(first, 'stayer')).toHaveAttribute('data-phase', 'running');
  await expect(first.getByTestId('elsewhere')).toBeHidden();
  await expect.poll(() => counter(first, 'stayer', 'again'), { timeout: 90_000 }).toBeGreaterThan(before);
  expect(await consoleText(first, 'stayer')).not.toContain('moved to another tab');
});

test('a VM of two CPUs moves with both harts', async ({ context }) => {
  const first = await context.newPage();
  await first.goto('/');
  await first.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = first.getByRole('dialog', { name: 'New virtual machine' });
  await dialog.getByLabel('Name').fill('duo-mover');
  await expect(dialog.getByRole('button', { name: 'Create' })).toBeEnabled();
  await dialog.getByLabel('CPUs').fill('2');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();
  await startCounting(first, 'duo-mover');
  const before = await counter(first, 'duo-mover', 'pre');

  const second = await context.newPage();
  await second.goto('/');
  await selectVm(second, 'duo-mover');
  await second.getByTestId('elsewhere').getByRole('button', { name: 'Move here' }).click();
  await expect(phaseOf(second, 'duo-mover')).toHaveAttribute('data-phase', 'running', { timeout: BOOT_TIMEOUT });
  await moveFigures(second, 'a VM of two CPUs');
  await run(second, 'duo-mover', 'echo "n=$(nproc) $(cat /tmp/mark)"', 'n=2 written-42');
  await expect.poll(() => counter(second, 'duo-mover', 'post'), { timeout: 30_000 }).toBeGreaterThan(before);
});

test('in the compatibility mode (no shared memory) a VM moves too', async ({ context }) => {
  const first = await context.newPage();
  await first.goto(FALLBACK_URL);
  await createVm(first, 'compat-mover', 96);
  await startCounting(first, 'compat-mover');
  const before = await counter(first, 'compat-mover', 'pre');

  const second = await context.newPage();
  await second.goto(FALLBACK_URL);
  await selectVm(second, 'compat-mover');
  await second.getByTestId('elsewhere').getByRole('button', { name: 'Move here' }).click();
  await expect(phaseOf(second, 'compat-mover')).toHaveAttribute('data-phase', 'running', { timeout: BOOT_TIMEOUT });
  await moveFigures(second, 'a VM in the compatibility mode');
  await run(second, 'compat-mover', 'cat /tmp/mark', 'written-42');
  await expect.poll(() => counter(second, 'compat-mover', 'post'), { timeout: 30_000 }).toBeGreaterThan(before);
  await expect(phaseOf(first, 'compat-mover')).toHaveAttribute('data-phase', 'stopped');
});
