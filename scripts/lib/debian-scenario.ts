/**
 * The Debian image's acceptance scenario, on any serial console (tabvm's or QEMU's), so that the test and
 * the benchmark run the same steps under both: boot to the prompt, check the system (trixie, apt, python3),
 * write a file, sync, reboot, and find the file again after the reboot.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DiskImageManifest } from '../../workers/protocol/disk-image.ts';
import { ConsoleSession, type TextConsole } from './console-session.ts';
import { assembleDiskImage } from './chunk-disk.ts';
import { QEMU_TABVM_CPU } from './qemu.ts';

/** bash's prompt in the image (/etc/bash.bashrc's PS1 with hostname `debian`). */
export const DEBIAN_PROMPT = 'root@debian:~# ';

export interface DebianManifest {
  readonly files: { readonly bios: { path: string }; readonly kernel: { path: string } };
  readonly bootargs: string;
  readonly memory: { readonly default: number };
  readonly disk: DiskImageManifest;
}

export function debianImageDir(root: string): string {
  return resolve(root, 'public/images/debian');
}

/** The built image's manifest, or an error that says how to build it. */
export function readDebianManifest(root: string): DebianManifest {
  const path = resolve(debianImageDir(root), 'manifest.json');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DebianManifest;
  } catch (error) {
    throw new Error(`no usable ${path} (${(error as Error).message}): build it with \`sudo npm run image:debian\``, {
      cause: error,
    });
  }
}

/** An ANSI control sequence (ESC [ parameters final-byte). */
const CSI_SEQUENCE = new RegExp(`${String.fromCharCode(0x1b)}\\[[0-9;?]*[A-Za-z]`, 'g');

/**
 * Types `command` at the prompt that ends at `at`, waits for it to finish, and returns its output lines and
 * the index past the next `prompt`. A marker computed by the shell ends the output, so the echo of the
 * typed line cannot be mistaken for it.
 */
export async function runAtPrompt(
  con: TextConsole,
  command: string,
  at: number,
  timeoutMs: number,
  prompt = DEBIAN_PROMPT,
): Promise<{ lines: string[]; at: number }> {
  const tag = Math.floor(Math.random() * 1e9);
  con.type(`${command}; echo CMD-$((${tag}+1))-END\n`);
  const end = await con.waitFor(`CMD-${tag + 1}-END`, timeoutMs, at);
  const output = con.output.slice(at, end - `CMD-${tag + 1}-END`.length);
  // Drop the echoed command line itself (everything up to the first line break).
  // bash switches bracketed paste mode off and on around each command (ESC [?2004l / h): drop escapes.
  const lines = output
    .slice(output.indexOf('\n') + 1)
    .replace(CSI_SEQUENCE, '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return { lines, at: await con.waitFor(prompt, 60_000, end) };
}

export interface ScenarioResult {
  /** Everything the checks looked at, for assertions with good failure messages. */
  readonly osRelease: string[];
  readonly aptVersion: string[];
  readonly python: string[];
  /** The token written before the reboot, and what `cat` printed after it. */
  readonly written: string;
  readonly readBack: string[];
}

/** Runs the checks at a booted prompt (ending at `at`), reboots, and reads the file back. */
export async function runDebianScenario(con: TextConsole, at: number, bootTimeoutMs: number): Promise<ScenarioResult> {
  const osRelease = await runAtPrompt(con, 'cat /etc/os-release', at, 60_000);
  const aptVersion = await runAtPrompt(con, 'apt-get --version | head -n 1', osRelease.at, 120_000);
  const python = await runAtPrompt(con, "python3 -c 'print(6*7)'", aptVersion.at, 300_000);
  const written = `tabvm-persisted-${Math.floor(Math.random() * 1e9)}`;
  const write = await runAtPrompt(con, `echo ${written} > /root/persist.txt && sync`, python.at, 60_000);
  con.type('reboot\n');
  // bash may print one more prompt before init stops it; the kernel's banner marks the new boot.
  const banner = await con.waitFor('Linux version', bootTimeoutMs, write.at);
  const rebooted = await con.waitFor(DEBIAN_PROMPT, bootTimeoutMs, banner);
  const readBack = await runAtPrompt(con, 'cat /root/persist.txt', rebooted, 60_000);
  return {
    osRelease: osRelease.lines,
    aptVersion: aptVersion.lines,
    python: python.lines,
    written,
    readBack: readBack.lines,
  };
}

/** Writes a raw copy of the image's disk to `diskPath` from its chunks: exactly what the browser downloads. */
export function rawDebianDisk(root: string, manifest: DebianManifest, diskPath: string): void {
  assembleDiskImage(debianImageDir(root), manifest.disk, diskPath);
}

/**
 * Boots the image under QEMU's virt board on a raw disk (rawDebianDisk), virtio-blk over virtio-mmio as on
 * tabvm; `net`: with a virtio-net card on QEMU's user-mode network (10.0.2.2 is the host's loopback).
 */
export function qemuDebianSession(
  root: string,
  manifest: DebianManifest,
  diskPath: string,
  options: { net?: boolean } = {},
): ConsoleSession {
  const dir = debianImageDir(root);
  return new ConsoleSession('qemu-system-riscv64', [
    '-machine',
    'virt',
    '-cpu',
    QEMU_TABVM_CPU,
    '-m',
    `${manifest.memory.default}M`,
    '-smp',
    '1',
    '-nographic',
    '-bios',
    resolve(dir, manifest.files.bios.path),
    '-kernel',
    resolve(dir, manifest.files.kernel.path),
    '-append',
    manifest.bootargs,
    '-drive',
    `file=${diskPath},format=raw,if=none,id=disk`,
    '-device',
    'virtio-blk-device,drive=disk',
    ...(options.net ? ['-netdev', 'user,id=net', '-device', 'virtio-net-device,netdev=net'] : []),
  ]);
}
