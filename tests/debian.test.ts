// The Debian image (public/images/debian/, built by `npm run image:debian`, which `npm test` runs first):
// a real Debian trixie with apt and python3 whose disk keeps what the guest writes across a reboot.
// The same scenario runs under QEMU on the same disk, so a failure says whether the image or tabvm broke.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tabvmSession } from '../scripts/lib/console-session.ts';
import {
  DEBIAN_PROMPT,
  qemuDebianSession,
  rawDebianDisk,
  readDebianManifest,
  runAtPrompt,
  runDebianScenario,
  type ScenarioResult,
} from '../scripts/lib/debian-scenario.ts';
import { qemuAvailable } from '../scripts/lib/qemu.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { CPU_COUNT_COMMAND, cpuCount, expectedCpuCount } from './cpu-count.ts';
import { BrowserNetwork } from '../workers/host/net/browser-network.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');

function expectDebian(result: ScenarioResult): void {
  expect(result.osRelease).toContain('VERSION_CODENAME=trixie');
  expect(result.osRelease).toContain('ID=debian');
  expect(result.aptVersion.join('\n')).toMatch(/^apt \d+\.\d+/m);
  expect(result.python).toContain('42');
  expect(result.readBack).toEqual([result.written]);
}

describe('the Debian image', () => {
  it('has a manifest for a chunked disk booted with our kernel', () => {
    const manifest = readDebianManifest(root);
    expect(manifest.bootargs).toMatch(/\broot=\/dev\/vda\b/);
    expect(manifest.disk.chunks.length).toBeGreaterThan(0);
    expect(manifest.disk.size % manifest.disk.chunkSize).toBe(0);
  });

  it("npm run vm -- --image debian boots with the image's disk as / (no --disk needed)", async () => {
    readDebianManifest(root); // says how to build the image when it is missing
    const vm = tabvmSession(['--image', 'debian'], root);
    try {
      const at = await vm.waitFor(DEBIAN_PROMPT, 600_000);
      vm.type('findmnt -no SOURCE,FSTYPE /\n');
      await vm.waitFor(/\/dev\/vda\s+ext4/, 60_000, at);
      vm.type('poweroff\n');
      expect(await vm.exitCode(120_000)).toBe(0);
    } finally {
      vm.kill();
    }
  }, 900_000);

  // The image's pre-booted snapshot has one hart, so a Debian VM with more boots cold (docs/harts.md).
  it('boots cold on 4 harts: nproc and /proc/cpuinfo count them', async () => {
    readDebianManifest(root);
    const vm = tabvmSession(['--image', 'debian', '--smp', '4'], root);
    try {
      const at = await vm.waitFor(DEBIAN_PROMPT, 900_000);
      const counted = await runAtPrompt(vm, CPU_COUNT_COMMAND, at, 120_000);
      expect(cpuCount(counted.lines)).toEqual(expectedCpuCount(4));
      vm.type('poweroff\n');
      expect(await vm.exitCode(120_000)).toBe(0);
    } finally {
      vm.kill();
    }
  }, 1_200_000);

  it("logs in on hvc0 with the terminal's size, and follows a resize", async () => {
    readDebianManifest(root);
    const files = resolveVmFiles({ image: 'debian' }, resolve(root, 'public/images'));
    const vm = new NodeVm(files, undefined, { consoleSize: { cols: 100, rows: 30 } });
    try {
      const con = new NodeVmConsole(vm);
      const at = await con.waitFor(DEBIAN_PROMPT, 600_000);
      const first = await runAtPrompt(con, 'tty; stty size', at, 60_000);
      expect(first.lines).toEqual(['/dev/hvc0', '30 100']);
      vm.resize(120, 40);
      // The guest learns it from a configuration change interrupt, handled by a kernel worker soon after.
      const resized = await runAtPrompt(
        con,
        'for i in 1 2 3 4 5; do [ "$(stty size)" = "40 120" ] && break; sleep 1; done; stty size',
        first.at,
        60_000,
      );
      expect(resized.lines).toEqual(['40 120']);
    } finally {
      await vm.terminate();
    }
  }, 900_000);

  it('under tabvm: trixie, apt, python3, and a file written before a reboot is there after it', async () => {
    const manifest = readDebianManifest(root);
    const dir = mkdtempSync(join(tmpdir(), 'tabvm-debian-'));
    // The runner's --disk writes a raw file in place: the same bytes the chunks hold.
    const disk = join(dir, 'disk.img');
    rawDebianDisk(root, manifest, disk);
    const vm = tabvmSession(['--image', 'debian', '--disk', disk], root);
    try {
      const at = await vm.waitFor(DEBIAN_PROMPT, 600_000);
      expectDebian(await runDebianScenario(vm, at, 600_000));
      vm.type('poweroff\n');
      expect(await vm.exitCode(120_000)).toBe(0);
    } finally {
      vm.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);

  it('under QEMU: trixie, apt, python3, and a file written before a reboot is there after it', async () => {
    expect(qemuAvailable(), 'qemu-system-riscv64 is installed (apt-get install qemu-system-misc)').toBe(true);
    const manifest = readDebianManifest(root);
    const dir = mkdtempSync(join(tmpdir(), 'tabvm-debian-'));
    rawDebianDisk(root, manifest, join(dir, 'disk.img'));
    const qemu = qemuDebianSession(root, manifest, join(dir, 'disk.img'));
    try {
      const at = await qemu.waitFor(DEBIAN_PROMPT, 240_000);
      expectDebian(await runDebianScenario(qemu, at, 240_000));
      qemu.type('poweroff\n');
      expect(await qemu.exitCode(120_000)).toBe(0);
    } finally {
      qemu.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);

  it('two VMs started from the pre-booted snapshot on one network get their own MACs and leases, and ping each other; a CA joins the bundle', async () => {
    const manifest = readDebianManifest(root) as ReturnType<typeof readDebianManifest> & { snapshot?: { path: string } };
    expect(manifest.snapshot, 'the image has a pre-booted snapshot').toBeDefined();
    const dir = resolve(root, 'public/images/debian');
    const snapshot = readFileSync(join(dir, manifest.snapshot!.path));
    // The page's network (one switch, one DHCP server), with no site behind its gateway.
    const network = new BrowserNetwork({ origin: 'http://tabvm.test', fetch: () => Promise.reject(new Error('offline')) });
    const files = resolveVmFiles({ image: 'debian' }, resolve(root, 'public/images'));
    const macs = ['52:54:00:00:aa:01', '52:54:00:00:aa:02'];
    const vms = await Promise.all(
      macs.map(
        async (mac) =>
          new NodeVm({ ...files, net: { mac } }, await decodeSnapshotFile(snapshot), {
            onNetwork: network.hook(() => {}),
          }),
      ),
    );
    try {
      const consoles = vms.map((vm) => new NodeVmConsole(vm));
      // Each guest's agent re-addresses eth0 to its VM's MAC and leases again. Meanwhile the guest pings the
      // gateway (the first command, while the agent works): the guest that keeps the snapshot's address
      // loses no packet. Then poll until each has its MAC and lease, and count eth0's IPv4 addresses.
      const addresses = await Promise.all(
        consoles.map(async (con, i) => {
          const { lines } = await runAtPrompt(
            con,
            'echo LOSS=$(ping -c 20 -i 0.25 -W 2 10.0.2.2 | grep -o "[0-9]*% packet loss"); ' +
              `for i in $(seq 120); do [ "$(cat /sys/class/net/eth0/address)" = ${macs[i]} ] && ip -4 -o addr show eth0 | grep -q inet && break; sleep 0.5; done; ` +
              'echo MAC=$(cat /sys/class/net/eth0/address) IP=$(ip -4 -o addr show eth0 | grep -o "inet [0-9.]*" | cut -d " " -f 2 | paste -sd ,)',
            0,
            300_000,
          );
          const line = lines.find((l) => l.startsWith('MAC='))!;
          const loss = lines.find((l) => l.startsWith('LOSS='))!;
          return { mac: /MAC=(\S+)/.exec(line)![1], ip: /IP=(\S*)/.exec(line)![1], loss: /LOSS=(.*)/.exec(loss)![1] };
        }),
      );
      expect(addresses.map((a) => a.mac)).toEqual(macs);
      // One address each (a guest given another lease than the snapshot's drops the snapshot's), not the same.
      expect(addresses[0]!.ip).toMatch(/^10\.0\.2\.\d+$/);
      expect(addresses[1]!.ip).toMatch(/^10\.0\.2\.\d+$/);
      expect(addresses[0]!.ip).not.toBe(addresses[1]!.ip);
      const kept = addresses.filter((a) => a.ip === '10.0.2.15');
      expect(kept).toHaveLength(1);
      expect(kept[0]!.loss).toBe('0% packet loss');
      const ping = await runAtPrompt(consoles[0]!, `ping -c 1 -W 10 ${addresses[1]!.ip} >/dev/null && echo PING-OK`, 0, 120_000);
      expect(ping.lines).toContain('PING-OK');
      // A CA certificate joins the bundle Debian's TLS clients read; a second one replaces it there.
      const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
      await vms[0]!.agent.installCa(pem('Rmlyc3RDQQ=='), 120_000);
      await vms[0]!.agent.installCa(pem('U2Vjb25kQ0E='), 120_000);
      const ca = await runAtPrompt(
        consoles[0]!,
        'grep -c "^# tabvm CA begin$" /etc/ssl/certs/ca-certificates.crt; grep -h -e Rmlyc3RDQQ== -e U2Vjb25kQ0E= /etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/tabvm.crt',
        ping.at,
        60_000,
      );
      expect(ca.lines).toEqual(['1', 'U2Vjb25kQ0E=', 'U2Vjb25kQ0E=']);
    } finally {
      await Promise.all(vms.map((vm) => vm.terminate()));
    }
  }, 900_000);
});
