/**
 * Guest HTTPS in Chromium (docs/networking.md, "HTTPS"): a Debian VM (from its pre-booted snapshot, with
 * its lease) connects to https://10.0.2.2/; the page terminates TLS with its WebCrypto TLS server and a
 * certificate of the profile's CA, made then and kept in IndexedDB; the guest, given that CA, verifies
 * the certificate and gets the app's own file, over TLS 1.3 and over TLS 1.2. The default image's
 * busybox wget, whose TLS is 1.2 only, gets it too. Needs public/images/debian with its snapshot.
 */
import { test, expect, type Page } from '@playwright/test';
import { consoleOf, consoleText, createVm, DEBIAN, run, startVm, waitForLogin, waitForPrompt } from './helpers.ts';

/** What `command` printed after `tag=`, read from a cleared screen (the typed line has `tag=$(`, never matched). */
async function answer(page: Page, name: string, tag: string, command: string): Promise<string> {
  const pattern = new RegExp(`${tag}=([^\\s$]+)`);
  await run(page, name, `clear; echo ${tag}=$(${command})`, pattern);
  return pattern.exec(await consoleText(page, name))![1]!;
}

test('a Debian guest fetches https://10.0.2.2/ and verifies it with the profile’s CA', async ({ page }) => {
  test.setTimeout(600_000);
  await page.goto('/');
  await createVm(page, 'tls', undefined, DEBIAN);
  await startVm(page, 'tls');
  await waitForLogin(page, 'tls');
  const manifest = 'https://10.0.2.2/images/debian/manifest.json';
  // Without the CA: the handshake completes (curl -k) and the page serves its file; the CA now exists.
  expect(await answer(page, 'tls', 'INSECURE', `curl -sk ${manifest} | grep -c '"name": "debian"'`)).toBe('1');
  const der = await page.evaluate(
    () =>
      new Promise<string>((resolve, reject) => {
        const open = indexedDB.open('tabvm-profile-ca');
        open.onerror = () => reject(new Error('no CA database'));
        open.onsuccess = () => {
          const read = open.result.transaction('ca').objectStore('ca').get('ca');
          read.onsuccess = () => {
            const record = read.result as { certificate: Uint8Array; privateKey: CryptoKey };
            if (record.privateKey.extractable) reject(new Error('the CA key is extractable'));
            resolve(btoa(String.fromCharCode(...record.certificate)));
          };
        };
      }),
  );
  await run(
    page,
    'tls',
    `clear; echo ${der} | base64 -d | openssl x509 -inform der -out /tmp/ca.pem && echo CA-$((6*7))`,
    'CA-42',
  );
  const verified = `curl -sS --cacert /tmp/ca.pem ${manifest} | grep -c '"name": "debian"'`;
  expect(await answer(page, 'tls', 'VERIFIED', verified)).toBe('1');
  // The guest agent installed the profile's CA in the guest's trust store: no -k, no --cacert.
  const trusted = `curl -sS ${manifest} | grep -c '"name": "debian"'`;
  expect(await answer(page, 'tls', 'TRUSTED', trusted)).toBe('1');
  // A client without TLS 1.3 gets TLS 1.2, and verifies it the same way.
  const tls12 = `curl -sSv --tls-max 1.2 -o /dev/null ${manifest} 2>&1 | grep -c 'SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256'`;
  expect(await answer(page, 'tls', 'TLS12', tls12)).toBe('1');
  // Trusting another CA only, curl refuses the certificate, and the pane says why.
  const other = '/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt';
  expect(await answer(page, 'tls', 'REFUSED', `curl -s --cacert ${other} ${manifest} >/dev/null; echo $?`)).toBe('60');
  await expect(consoleOf(page, 'tls').locator('.xterm-rows')).toContainText(
    '[tabvm] network: HTTPS to 10.0.2.2 failed',
  );
});

test('the default image’s busybox wget (TLS 1.2 only) fetches https://10.0.2.2/', async ({ page }) => {
  await page.goto('/');
  await createVm(page, 'bb');
  await startVm(page, 'bb');
  await waitForPrompt(page, 'bb');
  // busybox's TLS checks no certificate (it says so on stderr); what matters here is that the handshake
  // and the records work, which they did not while the page's server spoke TLS 1.3 only.
  const fetched = `wget -q -O- https://10.0.2.2/images/default/manifest.json 2>/dev/null | grep -c '"name": "default"'`;
  expect(await answer(page, 'bb', 'BUSYBOX', fetched)).toBe('1');
  await expect(consoleOf(page, 'bb').locator('.xterm-rows')).not.toContainText('HTTPS to 10.0.2.2 failed');
});
