/**
 * A new Debian VM starts from the image's pre-booted snapshot (public/images/debian/snapshot.tabvm, made
 * by `npm run image:debian`): Start restores it instead of booting, the shell takes commands that read
 * the disk, the guest's date is the page's (also when the snapshot is years older than the page's clock),
 * the snapshot's network card has its lease and reaches the page's network,
 * and Reset boots cold; an embed (embed.html) of the Debian image starts from it too. Needs
 * public/images/debian with its snapshot (npm test builds it first).
 */
import { test, expect, type Page } from '@playwright/test';
import {
  AWAIT_OWN_LEASE,
  consoleOf,
  consoleText,
  control,
  createVm,
  DEBIAN,
  DEBIAN_BOOT_TIMEOUT,
  DEBIAN_RESTORED,
  run,
  startVm,
  waitForBootedLogin,
  waitForLogin,
} from './helpers.ts';

/** What `command` printed after `tag=`, read from a cleared screen (the typed line has `tag=$(`, never matched). */
async function answer(page: Page, name: string, tag: string, command: string): Promise<string> {
  const pattern = new RegExp(`${tag}=([^\\s$]+)`);
  await run(page, name, `clear; echo ${tag}=$(${command})`, pattern);
  return pattern.exec(await consoleText(page, name))![1]!;
}

test('Debian starts from its pre-booted snapshot with the disk and today’s date; Reset boots cold', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await page.goto('/');
  await createVm(page, 'fast', undefined, DEBIAN);
  await startVm(page, 'fast');
  await waitForLogin(page, 'fast');
  const rows = consoleOf(page, 'fast').locator('.xterm-rows');
  // Restored, not booted: the note, and no kernel or login messages.
  await expect(rows).toContainText(DEBIAN_RESTORED);
  await expect(rows).not.toContainText('automatic login');

  // The shell reads the disk under the snapshot's overlay (chunks fetched as it reads them).
  expect(Number(await answer(page, 'fast', 'BIN', 'ls /usr/bin | wc -l'))).toBeGreaterThan(100);
  await run(page, 'fast', 'clear; cat /etc/os-release', 'VERSION_CODENAME=trixie');
  // The first command set the guest's clock from the RTC, which the restore set to the page's time.
  const guestSeconds = Number(await answer(page, 'fast', 'NOW', 'date +%s'));
  expect(Math.abs(guestSeconds - Date.now() / 1000)).toBeLessThan(120);
  expect(await answer(page, 'fast', 'YEAR', 'date +%Y')).toBe(String(new Date().getFullYear()));
  // The card has the VM's own MAC; the guest agent re-addresses eth0 to it and leases again (a few
  // seconds), and the network, told the snapshot's address is this VM's, gives it 10.0.2.15 again. The
  // page's network serves the app's own files at 10.0.2.2.
  const mac = 'cat /sys/class/net/eth0/address';
  const leased = `${AWAIT_OWN_LEASE}; ip -4 -o addr show eth0 | grep -o '10.0.2.15/24'`;
  expect(await answer(page, 'fast', 'ADDR', leased)).toBe('10.0.2.15/24');
  expect(await answer(page, 'fast', 'MAC', mac)).not.toBe('52:54:00:12:34:56');
  const served = 'curl -s http://10.0.2.2/images/debian/manifest.json | grep -c \'"name": "debian"\'';
  expect(await answer(page, 'fast', 'SERVED', served)).toBe('1');

  // Reset is a cold boot: the kernel and the automatic login, on the disk the snapshot left.
  await control(page, 'fast', 'Reset').click();
  await waitForBootedLogin(page, 'fast');
  await run(page, 'fast', 'clear; cat /etc/os-release', 'VERSION_CODENAME=trixie');
  await control(page, 'fast', 'Power off').click();
});

test('a Debian snapshot years older than the clock: the guest shows the clock’s date, not the snapshot’s', async ({
  page,
}) => {
  test.setTimeout(600_000);
  // The page's clock five years on: to the restore, the snapshot is five years old.
  const later = new Date();
  later.setUTCFullYear(later.getUTCFullYear() + 5);
  await page.clock.setFixedTime(later);
  await page.goto('/');
  await createVm(page, 'old', undefined, DEBIAN);
  await startVm(page, 'old');
  await waitForLogin(page, 'old');
  await expect(consoleOf(page, 'old').locator('.xterm-rows')).toContainText(DEBIAN_RESTORED);
  expect(await answer(page, 'old', 'YEAR', 'date +%Y')).toBe(String(later.getUTCFullYear()));
  await control(page, 'old', 'Power off').click();
});

test('an embed of the Debian image starts from its snapshot too', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto(`/embed.html?image=${encodeURIComponent('/images/debian/manifest.json')}&autostart=1`);
  const rows = page.locator('tabvm-terminal .xterm-rows');
  await expect(rows).toContainText('root@debian:~# ', { timeout: DEBIAN_BOOT_TIMEOUT });
  await expect(rows).not.toContainText('automatic login');
  await page.locator('tabvm-terminal .xterm').click();
  await page.keyboard.type('clear; echo YEAR=$(date +%Y)');
  await page.keyboard.press('Enter');
  await expect(rows).toContainText(`YEAR=${new Date().getFullYear()}`);
});
