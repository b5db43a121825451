/**
 * Issue 13's guest server as a person runs it (docs/networking.md, "Guest servers"): in a Debian VM,
 * `python3 -m http.server 8000`; the guest agent reports the port, the Ports panel lists it with Open,
 * and Open shows Python's directory listing in a new tab, served from the VM through the page's
 * Service Worker; a file of the listing opens by its link. Needs public/images/debian (npm test builds it).
 */
import { test, expect } from '@playwright/test';
import { consoleOf, createVm, DEBIAN, startVm, waitForLogin } from './helpers.ts';

test('python3 -m http.server in a Debian VM: its port is listed, and Open shows the directory listing', async ({
  page,
  context,
}) => {
  test.setTimeout(600_000);
  await page.goto('/');
  await createVm(page, 'py', undefined, DEBIAN);
  await startVm(page, 'py');
  await waitForLogin(page, 'py');
  await consoleOf(page, 'py').click();
  await page.keyboard.type(
    'mkdir -p /srv/www && cd /srv/www && echo served-from-python > note.txt && ' +
      '(python3 -m http.server 8000 >/tmp/http.log 2>&1 &) && echo STAR""TED',
  );
  await page.keyboard.press('Enter');
  await expect(consoleOf(page, 'py').locator('.xterm-rows')).toContainText('STARTED');

  // The agent looks every 2 s; Python takes a few seconds to start in the emulated guest.
  const open = page.getByTestId('ports').getByRole('button', { name: 'Open port 8000' });
  await expect(open).toBeEnabled({ timeout: 120_000 });
  const opened = context.waitForEvent('page');
  await open.click();
  const listing = await opened;
  await listing.waitForLoadState();
  expect(new URL(listing.url()).pathname).toMatch(/^\/vm\/[^/]+\/8000\/$/);
  await expect(listing).toHaveTitle('Directory listing for /');
  await listing.getByRole('link', { name: 'note.txt' }).click();
  await expect(listing.locator('body')).toHaveText('served-from-python');
});
