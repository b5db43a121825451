// HTTPS from the guest on the browser's network (docs/networking.md, "HTTPS"), run in Node: the Debian
// image on a BrowserNetwork whose fetch() goes to an HTTP server in this test. The guest's curl, wget
// (GnuTLS) and Python (OpenSSL, strict X.509) reach https://example.test/ through the page's TLS server
// with a certificate of a CA the guest reads from its shared folder; a large body streams; a site that
// refuses CORS is a 502 that says why; a client that does not trust the CA gets an alert and the pane a
// line, never a hang; a client that speaks only TLS 1.2 gets TLS 1.2.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEBIAN_PROMPT, readDebianManifest, runAtPrompt } from '../scripts/lib/debian-scenario.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { BrowserNetwork, CertificateAuthority, createCaRecord } from '../workers/host/net/browser-network.ts';
import type { Fetch } from '../workers/host/net/fetch-gateway.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const BIG_BYTES = 24 << 20;
const CHUNK = 64 * 1024;

/** The big body's bytes at `offset`, the same on every call. */
function bigChunk(offset: number): Buffer {
  const chunk = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += 4) chunk.writeUInt32LE((offset + i) >>> 0, i);
  return chunk;
}

describe('HTTPS from a Debian guest on the browser network', () => {
  it('curl, wget and Python fetch https:// through the page’s TLS server; failures are explained', async () => {
    readDebianManifest(root); // says how to build the image when it is missing
    const authority = new CertificateAuthority(await createCaRecord());
    const share = mkdtempSync(resolve(tmpdir(), 'tabvm-https-'));
    writeFileSync(resolve(share, 'ca.pem'), authority.pem);

    let bigHash = createHash('sha256');
    for (let offset = 0; offset < BIG_BYTES; offset += CHUNK) bigHash = bigHash.update(bigChunk(offset));
    const expectedBig = bigHash.digest('hex');
    const site = createServer((request, response) => {
      if (request.url === '/big') {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG_BYTES });
        let offset = 0;
        const more = (): void => {
          while (offset < BIG_BYTES) {
            const chunk = bigChunk(offset);
            offset += CHUNK;
            if (!response.write(chunk)) return void response.once('drain', more);
          }
          response.end();
        };
        return more();
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end(`hello over https: ${request.url}\n`);
    });
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    const port = (site.address() as AddressInfo).port;
    const fetched: string[] = [];
    // The page's fetch(): example.test is the local server; nocors.test refuses as a browser does (a TypeError).
    const pageFetch: Fetch = (url, init) => {
      fetched.push(url);
      const target = new URL(url);
      if (target.hostname !== 'example.test') return Promise.reject(new TypeError('Failed to fetch'));
      return fetch(`http://127.0.0.1:${port}${target.pathname}${target.search}`, {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        ...(init.signal ? { signal: init.signal } : {}),
      });
    };
    const network = new BrowserNetwork({ origin: 'http://app.test', fetch: pageFetch, certificates: authority });
    const notices: string[] = [];
    const files = {
      ...resolveVmFiles({ image: 'debian', share: [share] }, resolve(root, 'public/images')),
      net: { mac: '52:54:00:12:34:58' },
    };
    const vm = new NodeVm(files, undefined, { onNetwork: network.hook((line) => notices.push(line)) });
    const ca = '--cacert /mnt/shared/ca.pem';
    try {
      const con = new NodeVmConsole(vm);
      const at = await con.waitFor(DEBIAN_PROMPT, 900_000);
      let result = await runAtPrompt(
        con,
        'for i in $(seq 1 120); do ip -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; ' +
          'mkdir -p /mnt/shared && mount -t 9p -o trans=virtio,version=9p2000.L shared /mnt/shared; ls /mnt/shared',
        at,
        180_000,
      );
      expect(result.lines).toContain('ca.pem');

      result = await runAtPrompt(con, `curl -sS ${ca} https://example.test/a?b=1; echo "curl: $?"`, result.at, 300_000);
      expect(result.lines).toEqual(['hello over https: /a?b=1', 'curl: 0']);
      expect(fetched).toEqual(['https://example.test/a?b=1']);

      result = await runAtPrompt(
        con,
        `curl -sS ${ca} https://example.test/big | sha256sum; echo "curl: \${PIPESTATUS[0]}"`,
        result.at,
        1_200_000,
      );
      expect(result.lines).toEqual([`${expectedBig}  -`, 'curl: 0']);

      result = await runAtPrompt(
        con,
        'wget -q -O - --ca-certificate=/mnt/shared/ca.pem https://example.test/wget; echo "wget: $?"; ' +
          'python3 -c "import ssl, urllib.request as u; ' +
          "c = ssl.create_default_context(cafile='/mnt/shared/ca.pem'); " +
          "print(u.urlopen('https://example.test/python', context=c).read().decode().strip(), bool(c.verify_flags & ssl.VERIFY_X509_STRICT))\"",
        result.at,
        300_000,
      );
      expect(result.lines).toEqual(['hello over https: /wget', 'wget: 0', 'hello over https: /python True']);

      result = await runAtPrompt(
        con,
        `curl -sS ${ca} -w 'status %{http_code}\\n' https://nocors.test/x`,
        result.at,
        300_000,
      );
      expect(result.lines).toEqual([
        'The browser could not fetch https://nocors.test/x: the site does not allow cross-origin requests (CORS), or it could not be reached.',
        'status 502',
      ]);
      expect(notices).toContain(
        'network: https://nocors.test/x could not be fetched: the site does not allow cross-origin requests (CORS), or it could not be reached',
      );

      // Without the CA: curl refuses the certificate (its exit status 60), the pane says why.
      result = await runAtPrompt(con, 'curl -sS https://example.test/untrusted; echo "curl: $?"', result.at, 300_000);
      expect(result.lines.at(-1)).toBe('curl: 60');
      expect(notices).toContain(
        'network: HTTPS to example.test failed: the client sent the alert unknown_ca: the guest does not trust this browser’s CA (docs/networking.md, “HTTPS”)',
      );
      // A client without TLS 1.3 gets TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256), and verifies it the same way.
      result = await runAtPrompt(
        con,
        `curl -sSv --tls-max 1.2 ${ca} https://example.test/tls12 2>/tmp/tls12.log; echo "curl: $?"; ` +
          "grep -o 'SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256' /tmp/tls12.log",
        result.at,
        300_000,
      );
      expect(result.lines).toEqual([
        'hello over https: /tls12',
        'curl: 0',
        'SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256',
      ]);
      expect(fetched).not.toContain('https://example.test/untrusted');
    } finally {
      network.reset();
      site.close();
      await vm.terminate();
    }
  }, 3_600_000);
});
