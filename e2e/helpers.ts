/** What the specs do as a user would: create VMs in the dialog, press the buttons, type into consoles. */
import { expect, type Page } from '@playwright/test';

/** Boot to the busybox prompt takes ~5 s of guest time; allow for two VMs sharing a 2-core machine. */
export const BOOT_TIMEOUT = 120_000;

export async function createVm(page: Page, name: string, ramMiB?: number, image?: string): Promise<void> {
  await page.getByRole('button', { name: 'New VM' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name').fill(name);
  if (image !== undefined) {
    await expect(dialog.getByRole('option', { name: image, exact: true })).toBeEnabled();
    await dialog.getByLabel('Image').selectOption({ label: image });
  }
  // The image's manifest sets the default RAM when it arrives (Create is enabled from then on): type after it.
  await expect(dialog.getByRole('button', { name: 'Create' })).toBeEnabled();
  if (ramMiB !== undefined) {
    await dialog.getByLabel('Memory (MiB)').fill(String(ramMiB));
    await expect(dialog.getByLabel('Memory (MiB)')).toHaveValue(String(ramMiB));
  }
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId(`vm-item-${name}`)).toBeVisible();
}

export async function selectVm(page: Page, name: string): Promise<void> {
  await page.getByTestId(`vm-item-${name}`).click();
  await expect(page.getByRole('heading', { level: 2, name })).toBeVisible();
}

export function consoleOf(page: Page, name: string) {
  return page.getByTestId(`console-${name}`);
}

/** The console's visible rows, as text (the DOM renderer keeps them in the page). */
export async function consoleText(page: Page, name: string): Promise<string> {
  return (await consoleOf(page, name).locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ');
}

export async function startVm(page: Page, name: string): Promise<void> {
  await selectVm(page, name);
  await page
    .getByRole('toolbar', { name: `Controls for ${name}` })
    .getByRole('button', { name: 'Start' })
    .click();
}

export async function waitForPrompt(page: Page, name: string): Promise<void> {
  // busybox ash's greeting, then the default image's "root@tabvm:~# " prompt.
  await expect(consoleOf(page, name).locator('.xterm-rows')).toContainText(/built-in commands[\s\S]*# /, {
    timeout: BOOT_TIMEOUT,
  });
}

/** Types a command into a VM's console and waits for `expected` to appear in its output. */
export async function run(page: Page, name: string, command: string, expected: string | RegExp): Promise<void> {
  await selectVm(page, name);
  await consoleOf(page, name).click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
  await expect(consoleOf(page, name).locator('.xterm-rows')).toContainText(expected);
}

export function control(page: Page, name: string, button: string) {
  return page.getByRole('toolbar', { name: `Controls for ${name}` }).getByRole('button', { name: button, exact: true });
}

export function phaseOf(page: Page, name: string) {
  return page.getByTestId(`vm-item-${name}`);
}

export function snapshotButton(page: Page, action: string, snapshot: string) {
  return page.getByTestId('snapshots').getByRole('button', { name: `${action} ${snapshot}`, exact: true });
}

/**
 * Take snapshot…, then the dialog's button: with `name` and `description` typed in, else with the
 * dialog's defaults.
 */
export async function takeSnapshot(page: Page, name?: string, description?: string): Promise<void> {
  await page.getByRole('button', { name: 'Take snapshot…', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Take snapshot' });
  if (name !== undefined) await dialog.getByLabel('Snapshot name').fill(name);
  if (description !== undefined) await dialog.getByLabel('Description (optional)').fill(description);
  await dialog.getByRole('button', { name: 'Take snapshot', exact: true }).click();
  await expect(dialog).toBeHidden();
}

/** Clone… of a snapshot, accepting the dialog's suggested name (the VM's name and "-clone") as a full clone. */
export async function cloneSnapshot(page: Page, snapshot: string): Promise<void> {
  await snapshotButton(page, 'Clone', snapshot).click();
  const dialog = page.getByRole('dialog', { name: `Clone ${snapshot}` });
  await dialog.getByRole('button', { name: 'Clone', exact: true }).click();
  await expect(dialog).toBeHidden();
}

/**
 * Restores and waits until the restored VM has replaced the running one (the pane counts restores);
 * confirms the restore when the page asks (the current state changed since the last snapshot).
 */
export async function restoreAndWait(page: Page, name: string, snapshot: string): Promise<void> {
  const panel = page.getByTestId('snapshots');
  const before = Number(await panel.getAttribute('data-restores'));
  await snapshotButton(page, 'Restore', snapshot).click();
  const confirm = page.getByRole('dialog', { name: `Restore ${snapshot}?` });
  await expect(confirm.or(page.locator(`[data-testid="snapshots"][data-restores="${before + 1}"]`))).toBeVisible();
  if (await confirm.isVisible()) await confirm.getByRole('button', { name: 'Restore', exact: true }).click();
  await expect(panel).toHaveAttribute('data-restores', String(before + 1));
  await expect(phaseOf(page, name)).toHaveAttribute('data-phase', 'running');
  await expect(consoleOf(page, name).locator('.xterm-rows')).toContainText('restored snapshot');
}

export const DEBIAN = 'Debian 13 (trixie)';
/** Boot to the Debian prompt: ~8 s of CPU under tabvm in Node; allow for a loaded 2-core machine. */
export const DEBIAN_BOOT_TIMEOUT = 300_000;

/**
 * A shell loop that waits (up to 60 s) until the guest agent of a VM started from the Debian snapshot has
 * re-addressed eth0 to the VM's own MAC and has its new lease (docs/guest-agent.md).
 */
export const AWAIT_OWN_LEASE =
  'for i in $(seq 120); do [ "$(cat /sys/class/net/eth0/address)" != 52:54:00:12:34:56 ] && ' +
  "ip -4 -o addr show eth0 | grep -q 'inet ' && break; sleep 0.5; done";

/** The console's note when a new Debian VM started from the image's pre-booted snapshot instead of booting. */
export const DEBIAN_RESTORED = `restored snapshot "${DEBIAN}, booted"`;

/** Waits for the Debian image's automatic root login and its prompt. */
export async function waitForBootedLogin(page: Page, name: string): Promise<void> {
  await expect(consoleOf(page, name).locator('.xterm-rows')).toContainText(
    /root \(automatic login\)[\s\S]*root@debian:~# /,
    { timeout: DEBIAN_BOOT_TIMEOUT },
  );
}

/**
 * Waits for Debian's root prompt after a Start: the automatic login of a boot, or the prompt of the
 * image's pre-booted snapshot, which a VM whose disk has nothing written yet starts from.
 */
export async function waitForLogin(page: Page, name: string): Promise<void> {
  await expect(consoleOf(page, name).locator('.xterm-rows')).toContainText(
    new RegExp(`(root \\(automatic login\\)|${DEBIAN_RESTORED.replace(/[()]/g, '\\$&')})[\\s\\S]*root@debian:~# `),
    { timeout: DEBIAN_BOOT_TIMEOUT },
  );
}

/**
 * Turns the app's "Resume VMs on reload" setting off (it is on by default), for a test that wants a
 * VM stopped after a reload, as a person who turned it off would have it.
 */
export async function keepStoppedOnReload(page: Page): Promise<void> {
  await page.getByLabel('Resume VMs on reload').uncheck();
  await expect(page.getByLabel('Resume VMs on reload')).not.toBeChecked();
}
