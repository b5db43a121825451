// The user-mode network end to end in Node: the default image's virtio-net card plugged into UserNetwork
// with real host sockets (scripts/lib/node-network.ts), as `npm run vm` does. One boot: DHCP gives the
// guest 10.0.2.15, it pings the gateway, resolves a name at 10.0.2.3, downloads a file from an HTTP server
// on the host's 127.0.0.1 through 10.0.2.2 (sha256 compared), serves a forwarded host port, and keeps
// working after a burst of malformed frames; a snapshot of it restores onto a fresh network and works.
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { netVmFiles, PROMPT, root, runMarked } from './net-vm.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { tabvmSession } from '../scripts/lib/console-session.ts';
import { NodeUserNetwork, parseHostForward } from '../scripts/lib/node-network.ts';
import type { NetworkHook } from '../workers/protocol/net-link.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { ipv4 } from '../workers/host/net/frames.ts';

/** Types `command` and returns what it printed, up to `marker` (which the command echoes at its end). */
const run = (con: NodeVmConsole, command: string, marker: string, from: number): Promise<[string, number]> =>
  runMarked(con, command, marker, from, 180_000);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

// The image's init starts udhcpc in the background: the lease comes a moment after the prompt, and it
// is whole once the resolver is written (udhcpc's script sets the address, then the route, then it).
const LEASED = 'for i in $(seq 1 60); do grep -q nameserver /etc/resolv.conf && break; sleep 1; done';

describe('the user-mode network with the default image', () => {
  it('DHCP, ping, DNS, an HTTP download through 10.0.2.2, a forwarded port, and malformed frames', async () => {
    const payload = new Uint8Array(randomBytes(1 << 20));
    const http: Server = createHttpServer((request, response) => {
      if (request.url !== '/file.bin') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-length': payload.byteLength }).end(payload);
    });
    await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
    const httpPort = (http.address() as AddressInfo).port;
    const forwardPort = await freePort();
    const user = new NodeUserNetwork();
    await user.forward([parseHostForward(`tcp:127.0.0.1:${forwardPort}-:80`)]);
    // The hook as NodeVm calls it, keeping the network's port so the test can inject frames as the guest.
    let fromGuest: ReturnType<NetworkHook> | undefined;
    const hook: NetworkHook = (link) => (fromGuest = user.hook(link));
    const vm = new NodeVm(netVmFiles(), undefined, { onNetwork: hook });
    try {
      const con = new NodeVmConsole(vm);
      let at = await con.waitFor(PROMPT, 240_000);
      let out: string;
      [out, at] = await run(con, `${LEASED}; ip addr show eth0; ip route; cat /etc/resolv.conf`, 'DHCP', at);
      expect(out).toContain('inet 10.0.2.15/24');
      expect(out).toContain('default via 10.0.2.2 dev eth0');
      expect(out).toContain('nameserver 10.0.2.3');

      [out, at] = await run(con, 'ping -c 3 -W 5 10.0.2.2', 'PING', at);
      expect(out).toMatch(/3 packets transmitted, 3 packets received, 0% packet loss/);

      // localhost is in the host's /etc/hosts: the host's resolver answers without a network.
      [out, at] = await run(con, 'nslookup localhost 10.0.2.3', 'DNS', at);
      expect(out).toMatch(/Address:? *(1: *)?127\.0\.0\.1/);

      [out, at] = await run(
        con,
        `wget -q -O /tmp/file.bin http://10.0.2.2:${httpPort}/file.bin && sha256sum /tmp/file.bin; rm -f /tmp/file.bin`,
        'WGET',
        at,
      );
      expect(out).toContain(createHash('sha256').update(payload).digest('hex'));

      // A guest server behind --hostfwd tcp:127.0.0.1:PORT-:80.
      [out, at] = await run(
        con,
        "(printf 'HTTP/1.0 200 OK\\r\\n\\r\\nfrom the guest' | nc -l -p 80 >/tmp/request &); sleep 1",
        'LISTEN',
        at,
      );
      const reply = await new Promise<string>((done, fail) => {
        const socket = connect({ host: '127.0.0.1', port: forwardPort, allowHalfOpen: true });
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => {
          socket.end();
          done(Buffer.concat(chunks).toString());
        });
        socket.on('error', fail);
        socket.write('GET / HTTP/1.0\r\n\r\n');
        setTimeout(() => socket.end(), 5000);
      });
      expect(reply).toBe('HTTP/1.0 200 OK\r\n\r\nfrom the guest');
      [out, at] = await run(con, 'sleep 1; cat /tmp/request', 'REQUEST', at);
      expect(out).toContain('GET / HTTP/1.0');

      // Malformed frames as if from the guest: truncated, garbage, oversized, wrong checksums.
      const network = user.network!;
      for (let i = 0; i < 2000; i++) {
        const frame = new Uint8Array(randomBytes(i % 1600));
        if (i % 3 === 0 && frame.length > 34) frame.set([0x08, 0x00, 0x45], 12);
        fromGuest!.receive(frame);
      }
      expect([...network.drops.keys()].filter((reason) => reason.startsWith('internal error'))).toEqual([]);
      [out, at] = await run(con, 'ping -c 2 -W 5 10.0.2.2', 'AFTER', at);
      expect(out).toMatch(/2 packets transmitted, 2 packets received/);

      // A snapshot restored onto a fresh network: the guest keeps its address, and reaches the host again.
      const snapshot = await vm.snapshot();
      user.close();
      await vm.terminate();
      const restoredNetwork = new NodeUserNetwork();
      const restored = new NodeVm(netVmFiles(), await decodeSnapshotFile(snapshot), {
        onNetwork: restoredNetwork.hook,
      });
      try {
        // The card's record told the fresh network the guest's address: another MAC cannot have it.
        expect(restoredNetwork.network!.claimLease(Uint8Array.of(0x52, 0x54, 0, 0, 0, 0x99), ipv4('10.0.2.15'))).toBe(
          false,
        );
        const restoredConsole = new NodeVmConsole(restored);
        [out] = await run(
          restoredConsole,
          `ip addr show eth0; ping -c 2 -W 5 10.0.2.2; wget -q -O - http://10.0.2.2:${httpPort}/file.bin | sha256sum`,
          'RESTORED',
          0,
        );
        expect(out).toContain('inet 10.0.2.15/24');
        expect(out).toMatch(/2 packets transmitted, 2 packets received/);
        expect(out).toContain(createHash('sha256').update(payload).digest('hex'));
        restoredConsole.type('poweroff\n');
        expect(await restored.ended).toEqual({ kind: 'halted', exitCode: 0 });
      } finally {
        restoredNetwork.close();
        await restored.terminate();
      }
    } finally {
      user.close();
      http.close();
      await vm.terminate();
    }
  }, 600_000);
});

describe('npm run vm --hostfwd refuses what it cannot do, in one sentence', () => {
  async function refused(args: string[]): Promise<string> {
    const vm = tabvmSession(args, root);
    expect(await vm.exitCode(60_000)).toBe(2);
    const lines = vm.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0]!;
  }

  it('a rule not in QEMU’s syntax, a port out of range, no network card, a port in use', async () => {
    expect(await refused(['--hostfwd', 'tcp:127.0.0.1:8080'])).toMatch(
      /--hostfwd tcp:127.0.0.1:8080: not of the form tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT/,
    );
    expect(await refused(['--hostfwd', 'tcp::8080-:70000'])).toMatch(/the guest port must be a number from 1 to 65535/);
    expect(await refused(['--net', 'none', '--hostfwd', 'tcp::8080-:80'])).toMatch(
      /--hostfwd: the VM has no network card \(--net none\)/,
    );
    const busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    try {
      const { port } = busy.address() as AddressInfo;
      expect(await refused(['--hostfwd', `tcp:127.0.0.1:${port}-:80`])).toMatch(
        new RegExp(`--hostfwd: cannot listen on 127.0.0.1:${port} \\(EADDRINUSE\\)`),
      );
    } finally {
      busy.close();
    }
  }, 240_000);
});
