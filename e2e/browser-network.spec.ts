/**
 * The browser's network (docs/networking.md, "The browser"): a default-image VM gets its DHCP lease in the
 * page, fetches a file of the app's own origin through 10.0.2.2, resolves any name to a synthetic
 * address, and a site that sends no CORS headers gets a 502 that says why, with a line in the console;
 * the VM's live network figure and the page's totals count what it fetched. One boot, several commands. Cross-origin isolated page.
 */
import { test, expect } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleOf, createVm, run, selectVm, startVm, waitForPrompt } from './helpers.ts';

let server: Server;
const served: string[] = [];

test.beforeAll(async () => {
  // A second site, on another origin than the app's, that sends no Access-Control-Allow-Origin.
  server = createServer((request, response) => {
    served.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('a page without CORS\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

test.afterAll(() => server.close());

test('a VM fetches from the page’s origin, resolves names, and gets a 502 from a site without CORS', async ({
  page,
}) => {
  const { port } = server.address() as AddressInfo;
  // The guest reaches the web on port 80 only; the test's site listens elsewhere, so its name is routed there.
  await page.route('http://nocors.test/**', async (route) => {
    const path = new URL(route.request().url()).pathname;
    await route.continue({ url: `http://127.0.0.1:${port}${path}` });
  });
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);
  await createVm(page, 'net');
  await startVm(page, 'net');
  await waitForPrompt(page, 'net');
  const rows = consoleOf(page, 'net').locator('.xterm-rows');

  // udhcpc runs in the background from boot; the quotes keep the marker out of the echoed command line.
  await run(
    page,
    'net',
    "until ip -4 addr show eth0 | grep -q 10.0.2.15/24; do sleep 1; done; echo LEA''SED",
    /LEASED/,
  );

  await run(page, 'net', 'wget -q -O - http://10.0.2.2/images/default/manifest.json | head -3', /"name": "default"/);

  // The network figure counts the card's frames: a 267 KiB file makes it pass 273,472 bytes received.
  const firmware = 273_472;
  await run(
    page,
    'net',
    "wget -q -O /dev/null http://10.0.2.2/images/default/fw_dynamic.bin && echo FET''CHED",
    /FETCHED/,
  );
  const figures = page.getByTestId('net-figures');
  await expect
    .poll(async () => Number(await figures.getAttribute('data-received')), { timeout: 20_000 })
    .toBeGreaterThan(firmware);
  expect(Number(await figures.getAttribute('data-sent'))).toBeGreaterThan(0);
  await expect(figures).toContainText(/Network [\d.]+ MiB received · [\d.]+ MiB sent/);
  await expect
    .poll(async () => Number(await page.getByTestId('resource-totals').getAttribute('data-net')), { timeout: 20_000 })
    .toBeGreaterThan(firmware);

  await run(page, 'net', 'nslookup example.org', /Address:? (1: )?198\.1[89]\.\d+\.\d+/);

  await run(page, 'net', 'wget -O - http://nocors.test/hello', /502 Bad Gateway \(no CORS, or unreachable\)/);
  await expect(rows).toContainText('[tabvm] network: http://nocors.test/hello could not be fetched');
  // The request did reach the site: it is the browser that refused its answer.
  expect(served).toEqual(['/hello']);
});

test('two VMs of one page get their own leases and ping each other', async ({ page }) => {
  await page.goto('/');
  for (const name of ['left', 'right']) {
    await createVm(page, name);
    await startVm(page, name);
  }
  for (const name of ['left', 'right']) {
    await selectVm(page, name);
    await waitForPrompt(page, name);
  }
  // Each finds its own lease (10.0.2.15 or .16, whichever DHCP answered first) and pings the other's.
  const pingPeer =
    "until ip -4 addr show eth0 | grep -q 'inet 10.0.2.1[56]/'; do sleep 1; done; " +
    "if ip -4 addr show eth0 | grep -q 'inet 10.0.2.15/'; then peer=10.0.2.16; else peer=10.0.2.15; fi; " +
    'until ping -c 1 -W 1 $peer >/dev/null; do sleep 1; done; ping -c 3 $peer';
  await run(page, 'left', pingPeer, /3 packets transmitted, 3 packets received, 0% packet loss/);
  await run(page, 'right', pingPeer, /3 packets transmitted, 3 packets received, 0% packet loss/);
  const right = await consoleOf(page, 'right').locator('.xterm-rows').innerText();
  await selectVm(page, 'left');
  const left = await consoleOf(page, 'left').locator('.xterm-rows').innerText();
  const peerOf = (text: string) => /PING (10\.0\.2\.1[56])/.exec(text)?.[1];
  // Two different leases: each pinged the other.
  expect(new Set([peerOf(left), peerOf(right)])).toEqual(new Set(['10.0.2.15', '10.0.2.16']));
});
