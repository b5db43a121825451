/**
 * The optional relay in Chromium (docs/networking.md, "The relay"): the test starts `npm run relay`'s
 * script on a free port and an HTTP server on another port of this host's loopback, sets the relay in
 * the app's Relay… dialog, and a default-image VM fetches from 10.0.2.2:<port> (beyond port 80, which
 * only the relay can reach) and asks a DNS server there over UDP; a closed port is refused with the console's line. Cross-origin isolated page.
 */
import { test, expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleOf, createVm, run, startVm, waitForPrompt } from './helpers.ts';

let server: Server;
let udp: UdpSocket;
let relay: ChildProcess;
let relayUrl: string;
const relayLog: string[] = [];

test.beforeAll(async () => {
  server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(`through the relay: ${request.url}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  udp = createSocket('udp4');
  // A DNS server that answers every question (RFC 1035 §4.1) with 192.0.2.77.
  udp.on('message', (query, from) => {
    const answer = Buffer.concat([query, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77])]);
    answer.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
    answer.writeUInt16BE(1, 6); // one answer
    udp.send(answer, from.port, from.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  // One process (not npx's wrapper), so that afterAll's kill ends the relay itself.
  relay = spawn(process.execPath, ['--import', 'tsx', 'scripts/relay.ts', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  relayUrl = await new Promise<string>((resolve, reject) => {
    let output = '';
    relay.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line) relayLog.push(line);
      const banner = /tabvm relay: (ws:\/\/\S+)/.exec(output);
      if (banner) resolve(banner[1]!);
    });
    relay.once('exit', (code) => reject(new Error(`npm run relay exited with ${code}: ${output}`)));
  });
});

test.afterAll(() => {
  relay.kill('SIGTERM');
  server.close();
  udp.close();
});

test('a VM reaches TCP and UDP ports of the relay’s host through the relay set in the app, and a closed one is refused', async ({
  page,
}) => {
  const { port } = server.address() as AddressInfo;
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText(/Isolated mode/);

  await page.getByTestId('relay-open').click();
  await page.getByTestId('relay-url').fill('http://not-a-relay/');
  await page.getByTestId('relay-save').click();
  await expect(page.getByTestId('relay-url-hint')).toHaveText("a relay's URL starts with ws:// or wss://, not http://");
  await page.getByTestId('relay-url').fill(relayUrl);
  await page.getByTestId('relay-save').click();
  await expect(page.getByTestId('relay-settings')).toBeHidden();

  await createVm(page, 'relayed');
  await startVm(page, 'relayed');
  await waitForPrompt(page, 'relayed');
  await run(
    page,
    'relayed',
    "until ip -4 addr show eth0 | grep -q 10.0.2.15/24; do sleep 1; done; echo LEA''SED",
    /LEASED/,
  );
  await run(page, 'relayed', `wget -q -O - http://10.0.2.2:${port}/hello`, /through the relay: \/hello/);
  expect(relayLog).toContain(`relay: tcp 127.0.0.1:${port}`);

  const udpPort = udp.address().port;
  // UDP: a DNS question to a server beyond 10.0.2.3 goes through the relay.
  await run(page, 'relayed', `nslookup -port=${udpPort} example.test 10.0.2.2`, /Address:? (1: )?192\.0\.2\.77/);
  expect(relayLog).toContain(`relay: udp 127.0.0.1:${udpPort}`);

  // A port nobody listens on: the relay's refusal is a RST to the guest and a line in the console.
  await run(page, 'relayed', "wget -q -O - http://10.0.2.2:1/ || echo RE''FUSED", /REFUSED/);
  await expect(consoleOf(page, 'relayed').locator('.xterm-rows')).toContainText(
    '[tabvm] network: the relay could not connect to 127.0.0.1:1 (the connection was refused); refused',
  );

  // The setting is the page's and outlives a reload.
  await page.reload();
  await page.getByTestId('relay-open').click();
  await expect(page.getByTestId('relay-url')).toHaveValue(relayUrl);
});
