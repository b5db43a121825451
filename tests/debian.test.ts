// The Debian image (public/images/debian/, built by `npm run image:debian`, which `npm test` runs first):
// a real Debian trixie with apt and python3 whose disk keeps what the guest writes across a reboot.
// The same scenario runs under QEMU on the same disk, so a failure says whether the image or tabvm broke.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
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
});
