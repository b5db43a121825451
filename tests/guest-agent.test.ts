// The guest agent in the default image (docs/guest-agent.md), in the headless runner: it says hello
// over its virtio-console port, reports a server's port while it listens and not after, and the memory
// in use, installs a CA certificate, and a VM restored from a snapshot whose clock says 2001 gets
// today's date from the host; a VM restored with a MAC of its own is re-addressed to it with no moment
// off the network.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { BrowserNetwork } from '../workers/host/net/browser-network.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `command` at the prompt after `at`; returns its output's lines and where the next prompt is. */
async function run(con: NodeVmConsole, at: number, command: string): Promise<{ lines: string[]; at: number }> {
  con.type(`${command}; echo END-$((6*7))\n`);
  const end = await con.waitFor('END-42', 60_000, at);
  const lines = con.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
  return { lines, at: await con.waitFor(PROMPT, 10_000, end) };
}

describe('the guest agent in the default image', () => {
  it('says hello, reports a listening port and its end and the memory in use, installs a CA, and sets a restored guest’s clock', async () => {
    const files = resolveVmFiles({}, resolve(root, 'public/images'));
    let vm = new NodeVm(files);
    let snapshot: Uint8Array;
    try {
      const con = new NodeVmConsole(vm);
      let at = await con.waitFor(PROMPT, 240_000);
      await until(() => vm.agent.state.version === 2, 'the agent to say hello', 30_000);
      expect(vm.agent.state.ports).not.toContain(8000);
      ({ at } = await run(con, at, 'httpd -p 8000'));
      await until(() => vm.agent.state.ports.includes(8000), 'port 8000 in the agent’s ports', 30_000);
      ({ at } = await run(con, at, 'killall httpd'));
      await until(() => !vm.agent.state.ports.includes(8000), 'port 8000 to leave the agent’s ports', 30_000);
      expect(vm.agent.state.ignored).toBe(0);
      // Its memory: MemTotal is most of the VM's RAM; 32 MiB written to the RAM-backed root are in use
      // until they are removed.
      const memory = vm.agent.state.memory!;
      expect(memory.totalBytes).toBeGreaterThan(files.ramSize * 0.75);
      expect(memory.totalBytes).toBeLessThanOrEqual(files.ramSize);
      const used = () => vm.agent.state.memory!.totalBytes - vm.agent.state.memory!.availableBytes;
      const before = used();
      ({ at } = await run(con, at, 'dd if=/dev/zero of=/root/fill bs=1M count=32 2>/dev/null'));
      await until(() => used() >= before + 30 * 2 ** 20, '32 MiB more in use', 30_000);
      ({ at } = await run(con, at, 'rm /root/fill'));
      await until(() => used() < before + 8 * 2 ** 20, 'the 32 MiB to be free again', 30_000);
      // A CA certificate lands where the image's TLS clients look (this one's body is no real certificate).
      const pem = '-----BEGIN CERTIFICATE-----\nTUlJQnRhYnZtLWFnZW50LXRlc3Q=\n-----END CERTIFICATE-----\n';
      await vm.agent.installCa(pem, 60_000);
      const ca = await run(con, at, 'cat /etc/ssl/certs/tabvm-ca.pem');
      at = ca.at;
      expect(ca.lines).toEqual(expect.arrayContaining(pem.trim().split('\n')));
      // The guest's clock goes back to 2001; the snapshot keeps it there.
      ({ at } = await run(con, at, 'date -s @1000000000 >/dev/null'));
      snapshot = await vm.snapshot();
    } finally {
      await vm.terminate();
    }
    vm = new NodeVm(files, await decodeSnapshotFile(snapshot));
    try {
      const con = new NodeVmConsole(vm);
      // The restored shell is at its prompt: type at once, after the agent set the clock.
      await until(() => vm.agent.state.version === 2, 'the restored agent to say hello again', 30_000);
      const { lines } = await run(con, 0, 'echo NOW=$(date +%s)');
      const now = Number(lines.find((line) => line.startsWith('NOW='))!.slice(4));
      expect(Math.abs(now - Date.now() / 1000)).toBeLessThan(60);
    } finally {
      await vm.terminate();
    }
  }, 600_000);

  it('re-addresses a restored guest to its VM’s MAC with no packet lost; a second restore beside it gets an address of its own', async () => {
    const files = resolveVmFiles({ mem: '128M' }, resolve(root, 'public/images'));
    const booted = '52:54:00:12:34:56';
    const network = () => new BrowserNetwork({ origin: 'http://tabvm.test', fetch: () => Promise.reject(new Error('offline')) });
    const address = 'ip -4 -o addr show dev eth0 | grep -o "inet [0-9.]*" | cut -d " " -f 2';
    let vm = new NodeVm({ ...files, net: { mac: booted } }, undefined, { onNetwork: network().hook(() => {}) });
    let snapshot: Uint8Array;
    try {
      const con = new NodeVmConsole(vm);
      const at = await con.waitFor(PROMPT, 240_000);
      const { lines } = await run(con, at, `for i in $(seq 60); do ${address} | grep -q . && break; sleep 0.5; done; echo IP=$(${address})`);
      expect(lines).toContain('IP=10.0.2.15');
      await until(() => vm.agent.state.version === 2, 'the agent to say hello', 30_000);
      snapshot = await vm.snapshot();
    } finally {
      await vm.terminate();
    }
    // Two VMs of their own MACs restored on one network: the first is given the snapshot's address.
    const shared = network();
    const macs = ['52:54:00:00:bb:01', '52:54:00:00:bb:02'];
    const vms: NodeVm[] = [];
    try {
      for (const mac of macs) {
        vm = new NodeVm({ ...files, net: { mac } }, await decodeSnapshotFile(snapshot), { onNetwork: shared.hook(() => {}) });
        vms.push(vm);
      }
      const results = await Promise.all(
        vms.map(async (restored, i) => {
          // Settled: eth0 has the VM's MAC, and the second VM has left the first one's address.
          const mac = `[ "$(cat /sys/class/net/eth0/address)" = ${macs[i]} ]`;
          const settled = i === 0 ? mac : `${mac} && ! ${address} | grep -q 10.0.2.15`;
          const { lines } = await run(
            new NodeVmConsole(restored),
            0,
            'echo LOSS=$(ping -c 12 -i 0.25 -W 2 10.0.2.2 | grep -o "[0-9]*% packet loss"); ' +
              `for i in $(seq 60); do ${settled} && break; sleep 0.5; done; ` +
              `echo MAC=$(cat /sys/class/net/eth0/address) IP=$(${address}) COUNT=$(${address} | grep -c .)`,
          );
          return lines.filter((line) => /^(LOSS|MAC)=/.test(line));
        }),
      );
      expect(results[0]).toEqual(['LOSS=0% packet loss', `MAC=${macs[0]} IP=10.0.2.15 COUNT=1`]);
      expect(results[1]![1]).toMatch(new RegExp(`^MAC=${macs[1]} IP=10\\.0\\.2\\.(1[6-9]|2\\d|30) COUNT=1$`));
    } finally {
      await Promise.all(vms.map((restored) => restored.terminate()));
    }
  }, 600_000);
});
