/**
 * Guest servers in a browser tab (docs/networking.md, "Guest servers"): a default-image VM runs busybox
 * httpd on port 8000; the pane's Ports panel opens the typed port in a new tab, which the Service Worker
 * serves from the VM through the page that runs it: the guest's index page, then a file by its relative
 * link. A port nobody listens on and a VM that runs nowhere get a page that says so. On the cross-origin
 * isolated page and on the compatibility-mode one.
 */
import { test, expect } from '@playwright/test';
import { FALLBACK_URL, ISOLATED_URL } from '../playwright.config.ts';
import { createVm, run, startVm, waitForPrompt } from './helpers.ts';

for (const [mode, origin] of [
  ['Isolated mode', ISOLATED_URL],
  ['Compatibility mode', FALLBACK_URL],
] as const)
  test(`Open port shows the guest’s web server in a new tab through the Service Worker (${mode})`, async ({
    page,
    context,
  }) => {
    await page.goto(`${origin}/`);
    await expect(page.getByTestId('mode')).toHaveText(new RegExp(mode));
    await createVm(page, 'web');
    await startVm(page, 'web');
    await waitForPrompt(page, 'web');
    await run(
      page,
      'web',
      "until ip -4 addr show eth0 | grep -q 10.0.2.15/24; do sleep 1; done; echo LEA''SED",
      /LEASED/,
    );
    await run(
      page,
      'web',
      'mkdir -p /www && echo \'<title>Guest index</title><link rel=stylesheet href=s.css><a href="hello.txt">hello</a>\' > /www/index.html && ' +
        "echo 'a { color: rgb(1, 2, 3) }' > /www/s.css && " +
        'mkdir -p /www/sub && echo inside-sub > /www/sub/index.html && ' +
        "echo hello-from-the-guest > /www/hello.txt && httpd -p 8000 -h /www && echo SERV''ING",
      /SERVING/,
    );

    const ports = page.getByTestId('ports');
    await ports.getByLabel('Port to open').fill('8000');
    const opened = context.waitForEvent('page');
    await ports.getByRole('button', { name: 'Open port…' }).click();
    const guestPage = await opened;
    await guestPage.waitForLoadState();
    const url = new URL(guestPage.url());
    expect(url.pathname).toMatch(/^\/vm\/[^/]+\/8000\/$/);
    await expect(guestPage).toHaveTitle('Guest index');
    await expect(guestPage.getByRole('link', { name: 'hello' })).toHaveCSS('color', 'rgb(1, 2, 3)');
    // The relative link stays under /vm/<id>/8000/, so the worker serves it from the guest too.
    await guestPage.getByRole('link', { name: 'hello' }).click();
    await expect(guestPage.locator('body')).toHaveText('hello-from-the-guest');
    expect(new URL(guestPage.url()).pathname).toBe(`${url.pathname}hello.txt`);

    // busybox httpd redirects a directory without its slash to `Location: /sub/`: the worker maps it under the prefix.
    await guestPage.goto(`${origin}${url.pathname}sub`);
    await expect(guestPage.locator('body')).toHaveText('inside-sub');
    expect(new URL(guestPage.url()).pathname).toBe(`${url.pathname}sub/`);

    // Nothing listens on 8001: the worker's page says so, with the guest's address.
    const refused = await guestPage.goto(`${origin}${url.pathname.replace('/8000/', '/8001/')}`);
    expect(refused?.status()).toBe(502);
    await expect(guestPage.locator('body')).toContainText('Nothing in the VM accepts connections on 10.0.2.15:8001.');

    // A VM that runs in no tab.
    const nowhere = await guestPage.goto(`${origin}/vm/no-such-vm/8000/`);
    expect(nowhere?.status()).toBe(503);
    await expect(guestPage.locator('body')).toContainText('The VM no-such-vm is not running in any tab of this site.');
  });
