// virtio-blk and virtio-rng under Linux: the default image boots with an ext4 disk built here by
// mke2fs (e2fsprogs), reads a known file, writes one that survives a guest reboot and lands in the
// image file, refuses writes to a read-only disk, and finds the entropy device.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { DISK_IMAGE_FORMAT, diskChunkPath, type DiskImageManifest } from '../workers/protocol/disk-image.ts';
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

/** Cuts a raw image into a chunked image directory (manifest.json with a `disk` field, disk/NNNNNN.gz). */
function makeChunked(image: string, name: string, chunkSize: number): string {
  const dir = resolve(scratch, name);
  mkdirSync(resolve(dir, 'disk'), { recursive: true });
  const bytes = readFileSync(image);
  const chunks: DiskImageManifest['chunks'][number][] = [];
  for (let index = 0; index * chunkSize < bytes.length; index++) {
    const chunk = bytes.subarray(index * chunkSize, (index + 1) * chunkSize);
    if (chunk.every((b) => b === 0)) continue;
    const gz = gzipSync(chunk);
    writeFileSync(resolve(dir, diskChunkPath(index)), gz);
    chunks.push({ index, sha256: createHash('sha256').update(chunk).digest('hex'), compressedSize: gz.length });
  }
  const disk: DiskImageManifest = { format: DISK_IMAGE_FORMAT, size: bytes.length, chunkSize, chunks };
  writeFileSync(resolve(dir, 'manifest.json'), JSON.stringify({ name, disk }));
  return dir;
}

/** sha256 of every file under `dir`, by name. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = resolve(dir, name);
    if (name.endsWith('.gz') || name.endsWith('.json'))
      out[name] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return out;
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

describe('a chunked disk image under Linux', () => {
  it('reads lazily fetched chunks; writes go to the overlay, survive a guest reboot and leave the image as it was', async () => {
    const dir = makeChunked(makeDisk('chunked'), 'chunked-image', 64 * 1024);
    const before = digests(dir);
    const vm = tabvmSession(['--disk', dir], root);
    try {
      let at = await vm.waitFor(PROMPT, 240_000);
      let out = await run(
        vm,
        'mount /dev/vda /mnt && cat /mnt/hello.txt && echo "kept in the overlay" > /mnt/new.txt && sync',
        at,
      );
      expect(out.text).toContain('hello from the disk');
      vm.type('reboot\n');
      at = await vm.waitFor('Run /init as init process', 120_000, out.end);
      at = await vm.waitFor(PROMPT, 240_000, at);
      out = await run(vm, 'mount /dev/vda /mnt && cat /mnt/new.txt /mnt/hello.txt', at);
      expect(out.text).toContain('kept in the overlay');
      expect(out.text).toContain('hello from the disk');
      vm.type('poweroff\n');
      expect(await vm.exitCode(60_000)).toBe(0);
    } finally {
      vm.kill();
    }
    expect(digests(dir)).toEqual(before);
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

  it('a directory without a chunked disk manifest', async () => {
    const dir = resolve(scratch, 'not-an-image');
    mkdirSync(dir);
    writeFileSync(resolve(dir, 'manifest.json'), '{"name": "x"}');
    expect(await refused(['--disk', dir])).toMatch(/manifest\.json has no "disk" field/);
  });
});
