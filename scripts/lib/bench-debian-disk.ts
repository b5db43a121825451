/**
 * The Debian disk the benchmark's real programs run on: a raw copy of the image's disk with gcc and the C
 * library's headers installed from the image's package mirror, once per benchmark run and before any
 * timing. QEMU does the installing (on its user-mode network, apt through the host's mirror server), and
 * tabvm and QEMU then each boot a copy of that one disk: both run the same files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DEBIAN_PROMPT,
  debianImageDir,
  qemuDebianSession,
  rawDebianDisk,
  runAtPrompt,
  type DebianManifest,
} from './debian-scenario.ts';
import { serveMirror } from './mirror-server.ts';

/** What the benchmark installs: the compiler and the headers a hello-world needs (no recommends). */
export const BENCH_PACKAGES = ['gcc', 'libc6-dev'] as const;

/** The image's root file system has ~245 MiB free; gcc, binutils and their .debs need more: the copy grows. */
const GROWN_DISK_BYTES = 1024 * 2 ** 20;

/** Grows the raw disk's ext4 file system (the whole disk, no partitions) to GROWN_DISK_BYTES on the host. */
function growDisk(diskPath: string): void {
  truncateSync(diskPath, GROWN_DISK_BYTES);
  try {
    execFileSync('e2fsck', ['-f', '-p', diskPath], { stdio: 'pipe' });
    execFileSync('resize2fs', [diskPath], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `could not grow the Debian disk copy with e2fsck and resize2fs (e2fsprogs): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Fails with the command's output when `expected` is not in it: a broken guest must not go unnoticed. */
export function expectOutput(what: string, lines: readonly string[], expected: RegExp): void {
  if (!expected.test(lines.join('\n'))) {
    throw new Error(`${what}: expected ${String(expected)} in the output, got:\n${lines.join('\n')}`);
  }
}

/**
 * Writes the benchmark's disk to `diskPath` and returns the seconds QEMU took to install the packages
 * (apt-get update and install; reported, not compared).
 */
export async function prepareBenchDisk(root: string, manifest: DebianManifest, diskPath: string): Promise<number> {
  rawDebianDisk(root, manifest, diskPath);
  growDisk(diskPath);
  const mirror = await serveMirror(resolve(debianImageDir(root), 'mirror'));
  const qemu = qemuDebianSession(root, manifest, diskPath, { net: true });
  try {
    let at = await qemu.waitFor(DEBIAN_PROMPT, 600_000);
    const address = await runAtPrompt(
      qemu,
      'for i in $(seq 1 120); do ip -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 1; done; ip -4 addr show eth0',
      at,
      180_000,
    );
    expectOutput('the guest’s address', address.lines, /inet 10\.0\.2\.15\//);
    const apt = `apt-get -o Acquire::http::Proxy=http://10.0.2.2:${mirror.port}/`;
    const started = performance.now();
    const install = await runAtPrompt(
      qemu,
      `${apt} update >/tmp/apt.log 2>&1 && ${apt} install -y --no-install-recommends ${BENCH_PACKAGES.join(' ')} ` +
        '>>/tmp/apt.log 2>&1; echo "apt-get: $?"; grep -E "^(E|W|dpkg):|No space" /tmp/apt.log; df -h / | tail -n 1',
      address.at,
      1_800_000,
    );
    const seconds = (performance.now() - started) / 1000;
    expectOutput('apt-get update and install from the mirror', install.lines, /^apt-get: 0$/m);
    const gcc = await runAtPrompt(
      qemu,
      'apt-get clean; rm -rf /var/lib/apt/lists/* /tmp/apt.log; gcc --version | head -n 1; df -h / | tail -n 1; sync',
      install.at,
      120_000,
    );
    expectOutput('gcc after the install', gcc.lines, /^gcc .*\d+\.\d+\.\d+/m);
    at = gcc.at;
    // Emergency sync, remount read-only, power off (SysRq s, u, o): the disk is clean when QEMU exits.
    qemu.type('echo s > /proc/sysrq-trigger; echo u > /proc/sysrq-trigger; echo o > /proc/sysrq-trigger\n');
    await qemu.exitCode(60_000);
    return seconds;
  } finally {
    qemu.kill();
    mirror.close();
  }
}

/**
 * The prepared disk for this image, made once and kept in the host's temporary directory under a name
 * derived from the image's disk chunks and the packages (installing takes QEMU minutes on a loaded host).
 * Returns its path and the seconds the install took, or undefined when it was already there.
 */
export async function cachedBenchDisk(
  root: string,
  manifest: DebianManifest,
): Promise<{ path: string; installSeconds?: number }> {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        disk: manifest.disk,
        bootargs: manifest.bootargs,
        packages: BENCH_PACKAGES,
        size: GROWN_DISK_BYTES,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), 'tabvm-bench');
  const path = join(dir, `debian-${key}.img`);
  if (existsSync(path)) return { path };
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial`;
  const installSeconds = await prepareBenchDisk(root, manifest, partial);
  renameSync(partial, path);
  return { path, installSeconds };
}

/** A fresh copy of the prepared disk for one boot (the workloads write to it). */
export function copyBenchDisk(prepared: string, copy: string): string {
  copyFileSync(prepared, copy);
  return copy;
}
