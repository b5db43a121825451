// virtio-blk and virtio-rng under Linux: the default image boots with an ext4 disk built here by
// mke2fs (e2fsprogs), reads a known file, writes one that survives a guest reboot and lands in the
// image file, refuses writes to a read-only disk, and finds the entropy device.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { tabvmSession, type ConsoleSession } from '../scripts/lib/console-session.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
const scratch = mkdtempSync(resolve(tmpdir(), 'tabvm-virtio-'));
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/** An 8 MiB ext4 image holding /hello.txt. */
function makeDisk(name: string): string {
  const content = resolve(scratch, `${name}-content`);
  mkdirSync(content);
  writeFileSync(resolve(content, 'hello.txt'), 'hello from the disk\n');
  const image = resolve(scratch, `${name}.img`);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', content, '-F', image, '8M'], { env: { ...process.env, PATH } });
  return image;
}

/** Types `command` and resolves with what it printed, up to the marker the shell computes. */
async function run(vm: ConsoleSession, command: string, from: number): Promise<{ text: string; end: number }> {
  vm.type(`${command}; echo END-$((40+2))\n`);
  const end = await vm.waitFor('END-42', 60_000, from);
  const text = vm.output.slice(from, end);
  return { text, end: await vm.waitFor(PROMPT, 30_000, end) };
}

describe('virtio devices under Linux', () => {
  it('a writable disk: read a file, write one, find it again after a guest reboot and in the image', async () => {
    const image = makeDisk('rw');
    const vm = tabvmSession(['--disk', image], root);
    try {
      let at = await vm.waitFor(PROMPT, 240_000);
      let out = await run(vm, 'cat /sys/class/misc/hw_random/rng_current; head -c 16 /dev/hwrng | wc -c', at);
      expect(out.text).toMatch(/virtio_rng/);
      expect(out.text).toMatch(/^\s*16\s*$/m);
      out = await run(
        vm,
        'mount /dev/vda /mnt && cat /mnt/hello.txt && echo "written by the guest" > /mnt/new.txt && sync',
        out.end,
      );
      expect(out.text).toContain('hello from the disk');
      vm.type('reboot\n');
      at = await vm.waitFor('Run /init as init process', 120_000, out.end);
      at = await vm.waitFor(PROMPT, 240_000, at);
      out = await run(vm, 'mount /dev/vda /mnt && cat /mnt/new.txt && umount /mnt', at);
      expect(out.text).toContain('written by the guest');
      vm.type('poweroff\n');
      expect(await vm.exitCode(60_000)).toBe(0);
    } finally {
      vm.kill();
    }
    const debugfs = execFileSync('debugfs', ['-R', 'cat /new.txt', image], {
      env: { ...process.env, PATH },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(debugfs.toString()).toBe('written by the guest\n');
  }, 600_000);

  it('a read-only disk: mount falls back to read-only, writes fail, the image is unchanged', async () => {
    const image = makeDisk('ro');
    const before = createHash('sha256').update(readFileSync(image)).digest('hex');
    const vm = tabvmSession(['--disk', `${image},ro`], root);
    try {
      const at = await vm.waitFor(PROMPT, 240_000);
      let out = await run(vm, 'cat /sys/block/vda/ro; mount /dev/vda /mnt; grep " /mnt " /proc/mounts', at);
      expect(out.text).toMatch(/^1\s*$/m);
      expect(out.text).toMatch(/\/mnt ext4 ro[,\s]/);
      out = await run(vm, 'cat /mnt/hello.txt; echo x > /mnt/x.txt || echo WRITE-FAILED', out.end);
      expect(out.text).toContain('hello from the disk');
      expect(out.text).toContain('WRITE-FAILED');
      vm.type('poweroff\n');
      expect(await vm.exitCode(60_000)).toBe(0);
    } finally {
      vm.kill();
    }
    expect(createHash('sha256').update(readFileSync(image)).digest('hex')).toBe(before);
  }, 600_000);
});

describe('npm run vm --disk refuses bad input', () => {
  async function refused(args: string[]): Promise<string> {
    const vm = tabvmSession(args, root);
    expect(await vm.exitCode(30_000)).toBe(2);
    const lines = vm.output.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0]!;
  }

  it('a missing file', async () => {
    expect(await refused(['--disk', '/nonexistent/disk.img'])).toMatch(/--disk \/nonexistent\/disk\.img: no such file/);
  });

  it('a file that is not a whole number of sectors', async () => {
    const odd = resolve(scratch, 'odd.img');
    writeFileSync(odd, new Uint8Array(1000));
    expect(await refused(['--disk', `${odd},ro`])).toMatch(
      /odd\.img: a disk image must be a non-zero multiple of 512 bytes \(it has 1000\)/,
    );
  });
});
