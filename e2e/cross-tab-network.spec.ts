/**
 * VMs of different tabs of one origin on one Ethernet (docs/networking.md, "Other tabs"): two pages of
 * one browser context each run a default-image VM; each gets its own address from its own tab's DHCP
 * server (unique across the tabs: Web Locks), they ping each other both ways, and one downloads a file
 * from the other's busybox httpd over TCP, whole (md5). And a VM resumed from its automatic snapshot
 * after a reload keeps its address: a new VM started after it is given another.
 */
import { test, expect, type Page } from '@playwright/test';
import { consoleOf, consoleText, createVm, run, selectVm, startVm, waitForPrompt } from './helpers.ts';

/** Waits for the VM's DHCP lease and returns its address (the quotes keep the marker out of the echo). */
async function addressOf(page: Page, name: string): Promise<string> {
  await run(
    page,
    name,
    "until ip -4 addr show eth0 | grep -q 'inet 10.0.2'; do sleep 1; done; " +
      "ip -4 addr show eth0 | grep -o 'inet 10[.0-9]*' | sed 's/inet /AD''DR=/'",
    /ADDR=10\.0\.2\.\d+/,
  );
  return /ADDR=(10\.0\.2\.\d+)/.exec(await consoleText(page, name))![1]!;
}

test('VMs in two tabs get different addresses, ping each other and move a file over TCP', async ({ context }) => {
  const [one, two] = [await context.newPage(), await context.newPage()];
  await one.goto('/');
  await expect(one.getByTestId('mode')).toHaveText(/Isolated mode/);
  await createVm(one, 'first');
  await startVm(one, 'first');
  await two.goto('/');
  await createVm(two, 'second');
  await startVm(two, 'second');
  await waitForPrompt(one, 'first');
  await waitForPrompt(two, 'second');
  const first = await addressOf(one, 'first');
  const second = await addressOf(two, 'second');
  expect(second).not.toBe(first);

  const ping = (peer: string) => `until ping -c 1 -W 1 ${peer} >/dev/null; do sleep 1; done; ping -c 3 ${peer}`;
  await run(one, 'first', ping(second), /3 packets transmitted, 3 packets received, 0% packet loss/);
  await run(two, 'second', ping(first), /3 packets transmitted, 3 packets received, 0% packet loss/);

  // 1 MiB of random bytes served by the second VM's httpd, fetched by the first over TCP.
  await run(
    two,
    'second',
    'mkdir -p /tmp/www && dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=1024 2>/dev/null && ' +
      "httpd -p 8080 -h /tmp/www && md5sum /tmp/www/blob | sed 's/^/SU''M=/'",
    /SUM=[0-9a-f]{32}/,
  );
  const sum = /SUM=([0-9a-f]{32})/.exec(await consoleText(two, 'second'))![1]!;
  await run(one, 'first', `wget -q -O - http://${second}:8080/blob | md5sum | sed 's/^/GO''T=/'`, /GOT=[0-9a-f]{32}/);
  expect(/GOT=([0-9a-f]{32})/.exec(await consoleText(one, 'first'))![1]).toBe(sum);
});

test('a VM resumed after a reload keeps its address: a VM started after it is given another', async ({ page }) => {
  await page.goto('/');
  await createVm(page, 'kept');
  await startVm(page, 'kept');
  await waitForPrompt(page, 'kept');
  const kept = await addressOf(page, 'kept');
  const leased = Date.now();
  // Wait for an automatic snapshot taken after the lease: the one the VM resumes from after the reload.
  await expect
    .poll(async () => Number((await page.getByTestId('autosave-status').getAttribute('data-saved-at')) || 0), {
      timeout: 75_000,
    })
    .toBeGreaterThan(leased);
  // A new page: a new network that has never seen the VM's lease; the VM resumes by itself.
  await page.reload();
  await selectVm(page, 'kept');
  await expect(consoleOf(page, 'kept').locator('.xterm-rows')).toContainText('restored snapshot');
  await createVm(page, 'newcomer');
  await startVm(page, 'newcomer');
  await waitForPrompt(page, 'newcomer');
  const newcomer = await addressOf(page, 'newcomer');
  expect(newcomer).not.toBe(kept);
  // The resumed VM still has its own (it is in its RAM) and reaches the newcomer with it.
  await run(page, 'kept', `ping -c 2 ${newcomer}`, /2 packets transmitted, 2 packets received/);
});
