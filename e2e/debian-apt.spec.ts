/**
 * Debian packages with no relay (issue 13, docs/networking.md and docs/images.md): a new Debian VM in
 * the app, started from the image's pre-booted snapshot, runs `apt-get update` and `apt-get install`
 * against its ordinary source, http://deb.debian.org/debian, which the page's network serves from the
 * site's own package mirror (public/images/debian/mirror/). apt verifies Debian's signed index with
 * Debian's keys; the installed program runs; a package outside the mirror fails with apt's own error and
 * the console says it is not in this site's mirror. Needs public/images/debian with its mirror (npm test
 * builds it first).
 */
import { test, expect, type Page } from '@playwright/test';
import { consoleOf, createVm, DEBIAN, startVm, waitForLogin } from './helpers.ts';

/**
 * Types a command and waits for `expected`, for as long as apt may take: reading Debian's whole
 * package index (9.5 MB) takes the emulated guest about a minute.
 */
async function slowRun(page: Page, command: string, expected: RegExp): Promise<void> {
  await consoleOf(page, 'apt').click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
  await expect(consoleOf(page, 'apt').locator('.xterm-rows')).toContainText(expected, { timeout: 480_000 });
}

test('apt-get update and install in a Debian VM, from the site’s package mirror', async ({ page }) => {
  test.setTimeout(900_000);
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
  await createVm(page, 'apt', undefined, DEBIAN);
  await startVm(page, 'apt');
  await waitForLogin(page, 'apt');
  const rows = consoleOf(page, 'apt').locator('.xterm-rows');

  // The markers are computed by the shell, so the echo of the typed line cannot match them.
  // apt's exit status, and how many of its lines are warnings, errors or signature complaints: none.
  await slowRun(
    page,
    'clear; apt-get update >/tmp/update.log 2>&1; ' +
      'echo UPDATE-$((40+1))-$? BAD-$(grep -cE "^[WE]:|NO_PUBKEY|not signed" /tmp/update.log)',
    /UPDATE-41-0 BAD-0/,
  );
  await slowRun(
    page,
    'clear; apt-get install -y jq >/tmp/apt.log 2>&1; echo INSTALL-$((40+2))-$?; ' +
      `echo '{"a":[6,7]}' | jq -r '"JQ-\\(.a[0]*.a[1])"'`,
    /INSTALL-42-0[\s\S]*JQ-42/,
  );

  // A package that is not in the mirror: apt's own 404, and the console's line about the mirror.
  await slowRun(page, 'clear; apt-get install -y cowsay 2>&1 | tail -n 2; echo MISSING-$((40+3))', /MISSING-43/);
  await expect(rows).toContainText(/404\s+Not Found/);
  await expect(rows).toContainText("not in this site's package mirror");
});
