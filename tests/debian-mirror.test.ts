// The Debian image's package mirror (public/images/debian/mirror/, written by `npm run image:debian`):
// the image booted in Node on the user-mode network, with deb.debian.org answered by an HTTP server in
// this test that serves the mirror's files, as the browser's gateway serves them from the site. The
// guest's own apt checks the index files with Debian's keys, installs packages of the mirror's list with
// their dependencies, and fails in its ordinary way for a package the mirror does not hold.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEBIAN_PROMPT, debianImageDir, readDebianManifest, runAtPrompt } from '../scripts/lib/debian-scenario.ts';
import { serveMirror } from '../scripts/lib/mirror-server.ts';
import { NodeUserNetwork, nodeSockets } from '../scripts/lib/node-network.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { NameNotFound } from '../workers/host/net/dns.ts';
import { GATEWAY_ADDRESS } from '../workers/host/net/user-network.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const ARCHIVE_NAME = 'deb.debian.org';
const HTTP_PORT = 80;

describe('the Debian package mirror', () => {
  it('apt-get update verifies it with Debian’s keys; jq and tree install from it; others fail as apt does', async () => {
    readDebianManifest(root); // says how to build the image when it is missing
    const mirror = resolve(debianImageDir(root), 'mirror');
    expect(existsSync(resolve(mirror, 'dists/trixie/InRelease')), `${mirror} has the index files`).toBe(true);
    const http = await serveMirror(mirror);
    const { port: httpPort, requests } = http;
    // deb.debian.org is the gateway, whose port 80 is this server; no other name resolves, so nothing
    // reaches the real archive.
    const user = new NodeUserNetwork({
      resolver: {
        resolve4(name) {
          return name === ARCHIVE_NAME ? Promise.resolve([GATEWAY_ADDRESS]) : Promise.reject(new NameNotFound(name));
        },
      },
      provider: {
        connect: (address, port, events) =>
          nodeSockets.connect(address, address === GATEWAY_ADDRESS && port === HTTP_PORT ? httpPort : port, events),
        openUdp: (events) => nodeSockets.openUdp(events),
      },
    });
    const files = {
      ...resolveVmFiles({ image: 'debian' }, resolve(root, 'public/images')),
      net: { mac: '52:54:00:12:34:57' },
    };
    const vm = new NodeVm(files, undefined, { onNetwork: user.hook });
    const started = performance.now();
    const seconds = (since: number): number => Math.round((performance.now() - since) / 1000);
    try {
      const con = new NodeVmConsole(vm);
      const at = await con.waitFor(DEBIAN_PROMPT, 900_000);
      const booted = seconds(started);
      let result = await runAtPrompt(
        con,
        'for i in $(seq 1 120); do ip -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; ip -4 addr show eth0',
        at,
        180_000,
      );
      expect(result.lines.join('\n')).toContain('inet 10.0.2.15/24');

      let step = performance.now();
      result = await runAtPrompt(con, 'apt-get update 2>&1; echo "apt-get update: $?"', result.at, 1_200_000);
      const updated = seconds(step);
      const update = result.lines.join('\n');
      expect(update).toContain('apt-get update: 0');
      expect(update).toMatch(/Get:\d+ http:\/\/deb\.debian\.org\/debian trixie InRelease/);
      expect(update).not.toMatch(/NO_PUBKEY|not signed|no longer signed|^[WE]: /m);
      // apt asked for the Packages file by its hash, as Release (Acquire-By-Hash: yes) tells it to.
      expect(requests).toContainEqual(
        expect.stringMatching(/^GET \/debian\/dists\/trixie\/main\/binary-riscv64\/by-hash\/SHA256\//),
      );

      step = performance.now();
      result = await runAtPrompt(
        con,
        'apt-get install -y jq tree 2>&1; echo "apt-get install: $?"; jq --version; echo \'{"a":[6,7]}\' | jq -c ".a"; tree /etc/apt | tail -n 1',
        result.at,
        1_200_000,
      );
      const installed = seconds(step);
      const install = result.lines.join('\n');
      expect(install).toContain('apt-get install: 0');
      expect(install).toMatch(/^jq-\d+\.\d+/m);
      expect(install).toContain('[6,7]');
      expect(install).toMatch(/^\d+ directories?, \d+ files?$/m);
      expect(requests).toContainEqual(expect.stringMatching(/^GET \/debian\/pool\/main\/j\/jq\/jq_.*_riscv64\.deb$/));

      // cowsay is in Debian's Packages file but not in the mirror: apt's own 404 error, exit status 100.
      result = await runAtPrompt(con, 'apt-get install -y cowsay 2>&1; echo "apt-get install: $?"', result.at, 600_000);
      const outside = result.lines.join('\n');
      expect(outside).toContain('apt-get install: 100');
      expect(outside).toMatch(
        /E: Failed to fetch http:\/\/deb\.debian\.org\/debian\/pool\/main\/c\/cowsay\/\S+\s+404\s+Not Found/,
      );
      console.log(
        `debian mirror test: ${seconds(started)} s; prompt after ${booted} s, apt-get update ${updated} s, install of jq and tree ${installed} s`,
      );
    } finally {
      user.close();
      http.close();
      await vm.terminate();
    }
  }, 3_600_000);
});
