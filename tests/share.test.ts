// A host directory shared with the default image over virtio-9p (`npm run vm -- --share DIR`): a guest
// script changes the share in every way a program does and the host directory shows it; a snapshot
// taken with a file open in the guest restores with that file still readable. Without --share the
// image boots as before (tests/boot.test.ts) and mounts nothing.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from '../scripts/lib/qemu.ts';
import { NodeVm, NodeVmConsole } from '../scripts/lib/node-vm.ts';
import { resolveVmFiles } from '../scripts/lib/vm-options.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
/** The default image's init mounts the share tagged "shared" at /mnt/shared (scripts/image/rootfs/init). */
const CHECK_MOUNTED = `grep -q '^shared /mnt/shared 9p ' /proc/mounts && echo MOUNTED-AT-BOOT`;

/** The guest's side: each step a program takes on files, then what the guest sees. */
const GUEST_SCRIPT = [
  'cd /mnt/shared',
  'cat from-host.txt',
  'echo one > made.txt',
  'echo two >> made.txt',
  'mv made.txt renamed.txt',
  'mkdir -p dir/sub',
  'echo nested > dir/sub/n.txt',
  'ln -s renamed.txt link',
  'ln renamed.txt hard',
  'chmod 640 renamed.txt',
  'touch -d "2001-02-03 04:05:06" renamed.txt',
  'rm remove-me.txt',
  'rmdir empty-dir',
  'dd if=/dev/zero of=big bs=1024 count=1536 2>/dev/null',
  'echo LINK=$(readlink link) VIA=$(cat link | tr "\\n" +) SIZE=$(wc -c < big) N=$(ls | wc -l)',
  'cd',
].join('; ');

/** A fresh share with what the guest script expects to find. */
function prepareShare(): string {
  const dir = fs.mkdtempSync(resolve(tmpdir(), 'tabvm-share-'));
  fs.writeFileSync(resolve(dir, 'from-host.txt'), 'written by the host\n');
  fs.writeFileSync(resolve(dir, 'remove-me.txt'), 'x');
  fs.mkdirSync(resolve(dir, 'empty-dir'));
  return dir;
}

/** Boots `vm`, runs the guest script and a listing of what it made, and returns what the guest printed. */
async function runGuestScript(vm: ConsoleSession): Promise<string> {
  try {
    const at = await vm.waitFor(PROMPT, 240_000);
    // Sizes, modes, types and link counts of everything; times only where the script set them.
    const listing = 'cd /mnt/shared; stat -c "%n %s %a %F %h" $(find . | sort); stat -c %Y renamed.txt; cd';
    vm.type(`grep ' /mnt/shared ' /proc/mounts; ${GUEST_SCRIPT}; ${listing}; echo DONE-$((40+2))\n`);
    const end = await vm.waitFor('DONE-42', 120_000, at);
    const output = vm.output.slice(vm.output.indexOf('\n', at) + 1, end).replace(/\r/g, '');
    vm.type('poweroff\n');
    expect(await vm.exitCode(60_000)).toBe(0);
    return output;
  } finally {
    vm.kill();
  }
}

describe('a shared folder (--share DIR)', () => {
  it('shows the guest its files and the host every change the guest makes', async () => {
    const dir = prepareShare();
    const vm = tabvmSession(['--share', dir], root);
    try {
      let at = await vm.waitFor(PROMPT, 240_000);
      vm.type(`${CHECK_MOUNTED}; ${GUEST_SCRIPT}; echo DONE-$((40+2))\n`);
      const end = await vm.waitFor('DONE-42', 120_000, at);
      const output = vm.output.slice(at, end);
      expect(output).toContain('\nMOUNTED-AT-BOOT');
      expect(output).toContain('written by the host');
      expect(output).toMatch(/LINK=renamed.txt VIA=one\+two\+ SIZE=1572864 N=6/);
      expect(fs.readFileSync(resolve(dir, 'renamed.txt'), 'utf8')).toBe('one\ntwo\n');
      expect(fs.existsSync(resolve(dir, 'made.txt'))).toBe(false);
      expect(fs.readFileSync(resolve(dir, 'dir/sub/n.txt'), 'utf8')).toBe('nested\n');
      expect(fs.readlinkSync(resolve(dir, 'link'))).toBe('renamed.txt');
      const renamed = fs.statSync(resolve(dir, 'renamed.txt'));
      expect(renamed.ino).toBe(fs.statSync(resolve(dir, 'hard')).ino);
      expect(renamed.mode & 0o777).toBe(0o640);
      expect(renamed.mtime.toISOString()).toBe('2001-02-03T04:05:06.000Z');
      expect(fs.existsSync(resolve(dir, 'remove-me.txt'))).toBe(false);
      expect(fs.existsSync(resolve(dir, 'empty-dir'))).toBe(false);
      expect(fs.statSync(resolve(dir, 'big')).size).toBe(1536 * 1024);
      expect(fs.readdirSync(dir).sort()).toEqual(['big', 'dir', 'from-host.txt', 'hard', 'link', 'renamed.txt']);
      at = await vm.waitFor(PROMPT, 10_000, end);
      vm.type('poweroff\n');
      expect(await vm.exitCode(60_000)).toBe(0);
    } finally {
      vm.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('keeps a file opened before a snapshot readable after the restore; the share is not rolled back', async () => {
    const dir = fs.mkdtempSync(resolve(tmpdir(), 'tabvm-share-snap-'));
    fs.writeFileSync(resolve(dir, 'f'), 'before the snapshot\n');
    const files = resolveVmFiles({ share: [dir], mem: '128M' }, resolve(root, 'public/images'));
    let snapshot: Uint8Array;
    const first = new NodeVm(files);
    try {
      const con = new NodeVmConsole(first);
      let at = await con.waitFor(PROMPT, 240_000);
      con.type(`exec 3</mnt/shared/f; exec 4>>/mnt/shared/log; echo OPENED-$((1+1))\n`);
      at = await con.waitFor('OPENED-2', 60_000, at);
      await con.waitFor(PROMPT, 10_000, at);
      snapshot = await first.snapshot();
    } finally {
      await first.terminate();
    }
    // The host changes the share in the meantime: the guest sees it as it is now.
    fs.appendFileSync(resolve(dir, 'f'), 'after it\n');
    fs.writeFileSync(resolve(dir, 'new-on-host'), '');
    const second = new NodeVm(files, await decodeSnapshotFile(snapshot));
    try {
      const con = new NodeVmConsole(second);
      con.type('cat <&3; echo via-fd-4 >&4; ls /mnt/shared | tr "\\n" " "; echo; echo RESTORED-$((2+2))\n');
      const end = await con.waitFor('RESTORED-4', 120_000);
      const output = con.output.slice(0, end);
      expect(output).toContain('before the snapshot\r\nafter it');
      expect(output).toMatch(/f log new-on-host/);
      expect(fs.readFileSync(resolve(dir, 'log'), 'utf8')).toBe('via-fd-4\n');
    } finally {
      await second.terminate();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('gives the guest script the same results as QEMU -virtfs local,security_model=none', async () => {
    expect(qemuAvailable(), 'qemu-system-riscv64 is installed (apt-get install qemu-system-misc)').toBe(true);
    const image = resolve(root, 'public/images/default');
    const manifest = JSON.parse(fs.readFileSync(resolve(image, 'manifest.json'), 'utf8')) as { bootargs: string };
    const qemuDir = prepareShare();
    const tabvmDir = prepareShare();
    try {
      // QEMU's virt board puts -virtfs on PCI, which the default kernel leaves out: the same device
      // on virtio-mmio is -fsdev local + virtio-9p-device.
      const qemu = new ConsoleSession('qemu-system-riscv64', [
        ...['-M', 'virt', '-cpu', QEMU_TABVM_CPU, '-m', '256M', '-nographic'],
        ...['-bios', resolve(image, 'fw_dynamic.bin'), '-kernel', resolve(image, 'Image')],
        ...['-initrd', resolve(image, 'initramfs.cpio.gz'), '-append', manifest.bootargs],
        ...['-fsdev', `local,id=share0,path=${qemuDir},security_model=none`],
        ...['-device', 'virtio-9p-device,fsdev=share0,mount_tag=shared'],
      ]);
      const underQemu = await runGuestScript(qemu);
      const underTabvm = await runGuestScript(tabvmSession(['--share', tabvmDir], root));
      expect(underQemu).toContain('LINK=renamed.txt');
      expect(underTabvm).toBe(underQemu);
    } finally {
      fs.rmSync(qemuDir, { recursive: true, force: true });
      fs.rmSync(tabvmDir, { recursive: true, force: true });
    }
  }, 600_000);
});
