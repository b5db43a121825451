/**
 * `npm run vm -- [--image default] [--kernel F] [--initrd F] [--bios F] [--append "..."] [--mem 256M]
 *                [--disk F[,ro]] [--share DIR[,ro][,tag=NAME]] [--snapshot F] [--save-dir D] [--smp N]
 *                [--net user|none] [--mac 52:54:00:xx:xx:xx] [--hostfwd tcp:HOSTADDR:HOSTPORT-:GUESTPORT]`
 *
 * Boots a VM in a Node worker thread with its serial console on this terminal (raw mode; Ctrl-A X quits,
 * as in QEMU). Ctrl-A S writes a snapshot file to --save-dir (default: the current directory), as
 * QEMU's monitor `savevm` does; --snapshot starts from such a file (exported from the browser app too)
 * instead of powering on: the images must be the ones it was taken with, RAM and bootargs are its own.
 * An image whose manifest has a disk (--image debian) boots with it unless --disk says otherwise.
 * --share DIR gives the guest DIR over virtio-9p (docs/shared-folders.md); the default image mounts the
 * tag `shared` at /mnt/shared.
 * --smp N (1 to 8) gives the guest N harts, each in a worker thread of its own beside the VM's thread,
 * which keeps the devices (docs/harts.md); --snapshot restores with the count it was taken with (without
 * --smp, or with --smp of that count; another count is refused).
 * --net user plugs a virtio-net card into the user-mode network (QEMU's `-nic user`; the default when this
 * tabvm has one), --net none gives the VM no card; --mac sets the card's address (random for each run
 * otherwise). A VM restored from a snapshot has the snapshot's card, or none (docs/networking.md).
 * --hostfwd forwards a host TCP port to a guest port (QEMU's hostfwd syntax; repeatable).
 * A bare-metal ELF given as --bios runs in M-mode until it writes its `tohost` word (1 = pass, else the
 * guest's exit code is the value >> 1).
 *
 * The exit status (scripts/lib/exit-status.ts, docs/cli.md): 0 after a clean poweroff, the guest's exit
 * code otherwise (255 for codes above it); 2 for bad input (one line on stderr); 3 when the emulator
 * fails; 4 when the guest kernel panics (stderr gives its panic line).
 */
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { decodeSnapshotFile, SnapshotError, type SnapshotContents } from '../workers/protocol/snapshot-container.ts';
import type { ConsoleSize } from '../workers/protocol/vm-api.ts';
import { SNAPSHOT_FILE_EXTENSION } from '../workers/protocol/snapshot-format.ts';
import { checkSnapshotMachine } from '../workers/protocol/snapshot-records.ts';
import { checkSnapshotImages, checkSnapshotShares } from '../workers/machine/snapshot.ts';
import { ImageError } from '../workers/machine/image-error.ts';
import { prepareVirtBoot } from '../workers/machine/loader.ts';
import {
  parseSmp,
  readSnapshotFile,
  resolveNetCard,
  resolveVmFiles,
  type VmCommandLine,
  type VmFiles,
} from './lib/vm-options.ts';
import { NodeUserNetwork, parseHostForward } from './lib/node-network.ts';
import { NodeVm } from './lib/node-vm.ts';
import {
  EXIT_BAD_INPUT,
  EXIT_EMULATOR_ERROR,
  EXIT_GUEST_PANIC,
  EXIT_OK,
  EXIT_STATUS_MAX,
  guestExitStatus,
} from './lib/exit-status.ts';

const CTRL_A = 0x01;
const root = resolve(fileURLToPath(import.meta.url), '../..');

const program = new Command()
  .name('npm run vm --')
  .description(
    'Boot a tabvm RISC-V VM with its serial console on this terminal (Ctrl-A X quits, Ctrl-A S saves a snapshot).',
  )
  .option('--image <name>', 'image under public/images (default: default)')
  .option('--kernel <file>', "Linux kernel Image (replaces the image's)")
  .option('--initrd <file>', "initramfs (replaces the image's)")
  .option('--bios <file>', 'firmware (OpenSBI fw_dynamic.bin) or a bare-metal ELF')
  .option('--append <cmdline>', "kernel command line (replaces the image's)")
  .option('--mem <size>', "RAM size, e.g. 256M or 1G (default: the image's)")
  .option(
    '--disk <file[,ro]>',
    'virtio-blk disk (/dev/vda, then vdb, …): a raw image file, written in place, or a chunked image directory, ' +
      'whose writes stay in memory; ",ro" makes it read-only; repeatable (default: the image\'s disk, if it has one)',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .option(
    '--share <dir[,ro][,tag=NAME]>',
    'share a host directory with the guest over virtio-9p, tag "shared" unless tag=NAME (the default image ' +
      'mounts "shared" at /mnt/shared); ",ro" refuses guest writes; repeatable',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .option('--snapshot <file>', 'start from this snapshot file instead of powering on')
  .option('--save-dir <dir>', 'where Ctrl-A S writes snapshot files (default: the current directory)')
  .option('--smp <n>', "CPUs (harts), 1 to 8, each in a worker thread of its own (default 1, or a --snapshot's count)")
  .option(
    '--net <user|none>',
    'a virtio-net card on the user-mode network (user, the default when this tabvm has one), or no card (none)',
  )
  .option('--mac <address>', "the network card's address (default: a random 52:54:00:xx:xx:xx)")
  .option(
    '--hostfwd <rule>',
    "forward a host TCP port into the guest, QEMU's syntax: tcp:HOSTADDR:HOSTPORT-:GUESTPORT; repeatable",
    (value: string, previous: string[] = []) => [...previous, value],
  )
  // A usage error is bad input too: commander's one line, then exit status 2 (help exits 0).
  .exitOverride((error) => process.exit(error.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT));
program.parse();

function fail(message: string): never {
  process.stderr.write(`tabvm: ${message}\n`);
  process.exit(EXIT_BAD_INPUT);
}

let files: VmFiles;
let harts: number;
try {
  const options = program.opts<VmCommandLine & { snapshot?: string }>();
  files = resolveVmFiles(options, resolve(root, 'public/images'));
  harts = parseSmp(options.smp);
  // Plan the boot here too, so that images that cannot boot are refused before anything starts.
  prepareVirtBoot({
    harts,
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

const cli = program.opts<{
  snapshot?: string;
  saveDir?: string;
  mem?: string;
  smp?: string;
  net?: string;
  mac?: string;
  hostfwd?: string[];
}>();
let snapshot: SnapshotContents | undefined;
if (cli.snapshot !== undefined) {
  try {
    // Decoded here, once: the VM's worker restores from the contents without decoding them again.
    snapshot = await decodeSnapshotFile(readSnapshotFile(cli.snapshot));
    const { header } = snapshot;
    if (header.parent !== null) throw new SnapshotError('it holds only the changes since another snapshot');
    checkSnapshotMachine(header);
    if (cli.smp === undefined) harts = header.machine.harts;
    else if (header.machine.harts !== harts) {
      const cpus = (n: number): string => (n === 1 ? '1 CPU' : `${n} CPUs`);
      throw new SnapshotError(`it was taken with ${cpus(header.machine.harts)}; start it with --smp ${header.machine.harts}`);
    }
    checkSnapshotShares(header, files.shares ?? []);
    await checkSnapshotImages(header, files);
    if (cli.mem !== undefined && header.machine.ramSize !== files.ramSize) {
      throw new SnapshotError(`it has ${header.machine.ramSize >> 20}M of RAM, --mem says ${cli.mem}`);
    }
  } catch (error) {
    if (error instanceof SnapshotError) fail(`--snapshot ${cli.snapshot}: ${error.message}`);
    if (error instanceof ImageError) fail(error.message);
    throw error;
  }
}
// A cap hit (connections, held bytes) is one line under the guest's output, as QEMU prints its warnings.
const userNetwork = new NodeUserNetwork({ onNotice: (line) => process.stderr.write(`\r\ntabvm: ${line}\r\n`) });
try {
  const saved = snapshot
    ? checkSnapshotMachine(snapshot.header).virtio?.find((slot) => slot.deviceId === 1)
    : undefined;
  const net = resolveNetCard(cli, {
    userNetwork: true,
    ...(snapshot ? { snapshotMac: saved?.deviceId === 1 ? saved.device.mac : null } : {}),
  });
  if (net) files = { ...files, net };
  if (!net && cli.hostfwd) throw new ImageError('--hostfwd: the VM has no network card (--net none)');
  if (net) await userNetwork.forward((cli.hostfwd ?? []).map(parseHostForward));
} catch (error) {
  if (error instanceof ImageError) fail(error.message);
  throw error;
}
const saveDir = resolve(cli.saveDir ?? '.');

/** The host terminal's size, which the guest's virtio console follows (docs/console.md); none from a pipe. */
const terminalSize = (): ConsoleSize | undefined =>
  process.stdout.isTTY ? { cols: process.stdout.columns, rows: process.stdout.rows } : undefined;
const initialSize = terminalSize();
const vm = new NodeVm(files, snapshot, {
  harts,
  ...(initialSize ? { consoleSize: initialSize } : {}),
  ...(files.net ? { onNetwork: userNetwork.hook } : {}),
});
const stdin = process.stdin;
const interactive = stdin.isTTY === true;
if (interactive) stdin.setRawMode(true);
// Node emits 'resize' on a terminal's stdout at SIGWINCH.
process.stdout.on('resize', () => {
  const size = terminalSize();
  if (size) vm.resize(size.cols, size.rows);
});
let done = false;

/** Ends the run with exit status `code`; `message` goes to stderr after the guest's last output. */
function finish(code: number, message?: string): void {
  if (done) return;
  done = true;
  if (interactive) stdin.setRawMode(false);
  stdin.pause();
  void drainOutput()
    .then(() => {
      if (message !== undefined) process.stderr.write(`\r\ntabvm: ${message}\r\n`);
    })
    .then(async () => {
      userNetwork.close();
      await vm.terminate();
    })
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
        finish(EXIT_OK);
        return;
      }
      if (byte === 0x73 || byte === 0x53) {
        void saveSnapshot();
        continue;
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

async function saveSnapshot(): Promise<void> {
  try {
    const bytes = await vm.snapshot();
    const path = resolve(saveDir, `tabvm-${new Date().toISOString().replace(/[:.]/g, '-')}${SNAPSHOT_FILE_EXTENSION}`);
    writeFileSync(path, bytes);
    process.stdout.write(`\r\ntabvm: snapshot saved to ${path} (${(bytes.length / 2 ** 20).toFixed(1)} MiB)\r\n`);
  } catch (error) {
    process.stdout.write(`\r\ntabvm: the snapshot failed: ${(error as Error).message}\r\n`);
  }
}

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
  if (end.kind === 'halted') {
    const status = guestExitStatus(end.exitCode);
    const code = Number.isSafeInteger(end.exitCode) ? `${end.exitCode}` : 'above 2^53';
    finish(
      status,
      status === EXIT_STATUS_MAX && end.exitCode !== EXIT_STATUS_MAX
        ? `the guest's exit code ${code} does not fit in an exit status: exit status ${status}`
        : undefined,
    );
  } else if (end.kind === 'panicked') finish(EXIT_GUEST_PANIC, `the guest kernel panicked: ${end.message}`);
  else finish(EXIT_EMULATOR_ERROR, end.message);
});
