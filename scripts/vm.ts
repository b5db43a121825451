/**
 * `npm run vm -- [--image default] [--kernel F] [--initrd F] [--bios F] [--append "..."] [--mem 256M] [--disk F[,ro]]`
 *
 * Boots a VM in a Node worker thread with its serial console on this terminal (raw mode; Ctrl-A X quits,
 * as in QEMU). The exit code follows the guest: 0 after a clean poweroff, the guest's code otherwise.
 * A bare-metal ELF given as --bios runs in M-mode until it writes its `tohost` word (1 = pass, else the
 * exit code is the value >> 1). Bad input is one line on stderr and exit code 2.
 */
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { ImageError } from '../workers/machine/image-error.ts';
import { prepareVirtBoot } from '../workers/machine/loader.ts';
import { resolveVmFiles, type VmCommandLine, type VmFiles } from './lib/vm-options.ts';
import { NodeVm } from './lib/node-vm.ts';

const CTRL_A = 0x01;
const root = resolve(fileURLToPath(import.meta.url), '../..');

const program = new Command()
  .name('npm run vm --')
  .description('Boot a tabvm RISC-V VM with its serial console on this terminal (Ctrl-A X quits).')
  .option('--image <name>', 'image under public/images (default: default)')
  .option('--kernel <file>', "Linux kernel Image (replaces the image's)")
  .option('--initrd <file>', "initramfs (replaces the image's)")
  .option('--bios <file>', 'firmware (OpenSBI fw_dynamic.bin) or a bare-metal ELF')
  .option('--append <cmdline>', "kernel command line (replaces the image's)")
  .option('--mem <size>', "RAM size, e.g. 256M or 1G (default: the image's)")
  .option(
    '--disk <file[,ro]>',
    'virtio-blk disk (/dev/vda, then vdb, …): a raw image file, written in place, or a chunked image directory, ' +
      'whose writes stay in memory; ",ro" makes it read-only; repeatable',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .showHelpAfterError();
program.parse();

function fail(message: string): never {
  process.stderr.write(`tabvm: ${message}\n`);
  process.exit(2);
}

let files: VmFiles;
try {
  files = resolveVmFiles(program.opts<VmCommandLine>(), resolve(root, 'public/images'));
  // Plan the boot here too, so that images that cannot boot are refused before anything starts.
  prepareVirtBoot({
    harts: 1,
    ramSize: files.ramSize,
    bootargs: files.bootargs,
    bios: files.bios,
    ...(files.kernel ? { kernel: files.kernel } : {}),
    ...(files.initrd ? { initrd: files.initrd } : {}),
  });
} catch (error) {
  if (error instanceof ImageError) fail(error.message);
  throw error;
}

const vm = new NodeVm(files);
const stdin = process.stdin;
const interactive = stdin.isTTY === true;
if (interactive) stdin.setRawMode(true);
let done = false;

function finish(code: number): void {
  if (done) return;
  done = true;
  if (interactive) stdin.setRawMode(false);
  stdin.pause();
  void drainOutput()
    .then(() => vm.terminate())
    .then(() => process.exit(code));
}

let escape = false;
stdin.on('data', (chunk: Buffer) => {
  const out: number[] = [];
  for (const byte of chunk) {
    if (escape) {
      escape = false;
      if (byte === 0x78 || byte === 0x58) {
        process.stdout.write('\r\ntabvm: terminated (Ctrl-A X)\r\n');
        finish(0);
        return;
      }
      if (byte !== CTRL_A) out.push(CTRL_A);
      out.push(byte);
    } else if (byte === CTRL_A && interactive) {
      escape = true;
    } else {
      out.push(byte);
    }
  }
  if (out.length > 0) vm.send(Uint8Array.from(out));
});

async function drainOutput(): Promise<void> {
  for (;;) {
    const bytes = vm.output.read();
    if (bytes.length === 0) return;
    await new Promise<void>((r) => process.stdout.write(bytes, () => r()));
  }
}

async function pumpOutput(): Promise<void> {
  while (!done) {
    const seen = vm.output.writeCount();
    await drainOutput();
    await vm.output.waitForData(seen, 100);
  }
}
void pumpOutput();

void vm.ended.then((end) => {
  if (end.kind === 'halted') finish(end.exitCode);
  else {
    process.stderr.write(`\r\ntabvm: ${end.message}\r\n`);
    finish(3);
  }
});
