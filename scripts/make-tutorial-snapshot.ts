/**
 * `tsx scripts/make-tutorial-snapshot.ts`: the pre-booted snapshot the example tutorial starts from
 * (public/snapshots/tutorial.tabvm, generated, git-ignored; `npm run build` and `npm test` run this
 * first). It boots the default image in this thread with 256 MiB of RAM (the tutorial's) and a shared
 * folder tagged `shared` (an empty tree in memory: the page gives the restored VM its own folder, and the
 * guest's mount at /mnt/shared carries on over it), waits for the shell's prompt, types the embed
 * library's prompt setup line (so the restored shell already reports exit statuses), and writes a full
 * snapshot. The machine has a network card (TUTORIAL_MAC) with nothing behind it: the embed library's
 * `network` is on by default, a restored snapshot brings its own card or none, and the guest's udhcpc,
 * still asking when the snapshot is taken, gets its lease from the page's network after the restore
 * (docs/networking.md, "The tutorial"). The snapshot is taken 2.8 s after the first DHCPDISCOVER of one
 * of udhcpc's rounds (three, 3 s apart, then a 20 s pause: busybox's defaults), so the restored guest
 * asks again at once. A snapshot that is already there and was taken with the same images, RAM, bootargs and
 * share is kept: booting costs several seconds of CPU. The machine has the guest agent's port, and the
 * snapshot is taken once the guest's agent has said hello on it: a restored tutorial VM's agent then sets
 * its clock to the reader's, gives eth0 the VM's own MAC and reports its ports and memory
 * (docs/guest-agent.md).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { coreModule, defaultImage, repoRoot } from './lib/in-process.ts';
import { Machine } from '../workers/machine/machine.ts';
import { MemoryTree } from '../workers/host/9p/memory-tree.ts';
import { NinePServer } from '../workers/host/9p/server.ts';
import { checkSnapshotMachine } from '../workers/protocol/snapshot-records.ts';
import { parseMacAddress } from '../workers/protocol/mac-address.ts';
import { captureSnapshot, encodeSnapshot, imageIdentity } from '../workers/machine/snapshot.ts';
import { readSnapshotHeader } from '../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_FORMAT_VERSION } from '../workers/protocol/snapshot-format.ts';
import { promptSetupLine, STATUS_MARKER } from '../src/embed/shell-text.ts';

const RAM_MIB = 256;
/** The tag the default image mounts at /mnt/shared, and the page's share has (src/controller/vm-share.ts). */
const SHARE_TAG = 'shared';
const OUT = resolve(repoRoot, 'public/snapshots/tutorial.tabvm');
const PROMPT = 'root@tabvm:~# ';
const BOOT_TIMEOUT_MS = 600_000;
/** busybox ash asks where the cursor is after each prompt (DSR 6); nobody answers here, and it carries on. */
const CURSOR_QUERY = '\x1b[6n';

/** The card's address (QEMU's default): every tutorial VM has it, since its guest read it at boot. */
const TUTORIAL_MAC = '52:54:00:12:34:56';
/** Guest time after a round's first DISCOVER at which the snapshot is taken: 2.8 s of udhcpc's 3 s (`-T 3`), at 10 MHz. */
const BEFORE_NEXT_DISCOVER_TICKS = 28_000_000n;
/** busybox udhcpc's DISCOVERs in one round (`-t 3`) before it pauses. */
const DISCOVERS_PER_ROUND = 3;

const { bios, kernel, initrd, bootargs } = defaultImage();

/** Whether OUT holds a snapshot of these images, RAM size and bootargs, in the current format. */
async function upToDate(): Promise<boolean> {
  let file: Uint8Array;
  try {
    file = readFileSync(OUT);
  } catch {
    return false;
  }
  try {
    const header = await readSnapshotHeader(file);
    const want = {
      bios: await imageIdentity(bios),
      kernel: await imageIdentity(kernel),
      initrd: await imageIdentity(initrd),
    };
    return (
      JSON.stringify(header.images) === JSON.stringify(want) &&
      header.machine.ramSize === RAM_MIB << 20 &&
      header.machine.bootargs === bootargs &&
      header.parent === null &&
      JSON.stringify(
        (checkSnapshotMachine(header).virtio ?? []).flatMap((slot) => (slot.deviceId === 9 ? [slot.device.tag] : [])),
      ) === JSON.stringify([SHARE_TAG]) &&
      (checkSnapshotMachine(header).virtio ?? []).some((slot) => slot.deviceId === 1) &&
      // The agent's port open: its guest's agent was at work when the snapshot was taken.
      (checkSnapshotMachine(header).virtio ?? []).some(
        (slot) => slot.deviceId === 3 && 'guestOpen' in slot.device && slot.device.guestOpen,
      ) &&
      // An older format is still read, but a new file is smaller (format 3 leaves out the kernel's pages).
      new DataView(file.buffer, file.byteOffset).getUint32(8, true) === SNAPSHOT_FORMAT_VERSION
    );
  } catch {
    return false;
  }
}

/** A DHCPDISCOVER from the guest: UDP from port 68 to 67 with DHCP message type 1 (RFC 2131). */
function isDhcpDiscover(frame: Uint8Array): boolean {
  if (frame.length < 14 + 20 + 8 + 240 + 3 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[23] !== 17)
    return false;
  const udp = 14 + (frame[14]! & 0xf) * 4;
  const bootp = udp + 8;
  if (((frame[udp]! << 8) | frame[udp + 1]!) !== 68 || ((frame[udp + 2]! << 8) | frame[udp + 3]!) !== 67) return false;
  for (let i = bootp + 240; i + 2 < frame.length && frame[i] !== 255; i += frame[i] === 0 ? 1 : 2 + frame[i + 1]!) {
    if (frame[i] === 53) return frame[i + 2] === 1;
  }
  return false;
}

const atPrompt = (text: string): boolean => text.split(CURSOR_QUERY).join('').endsWith(PROMPT);

/** Runs the guest until `done`, letting the event loop run between slices: the share answers asynchronously. */
async function runUntil(machine: Machine, done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + BOOT_TIMEOUT_MS;
  while (!done()) {
    const status = machine.runSlice();
    if (status.kind === 'halted') throw new Error(`the guest halted while ${what}`);
    if (performance.now() > deadline) throw new Error(`timed out ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

if (await upToDate()) {
  console.log(`${relative(repoRoot, OUT)} is up to date`);
} else {
  let out = '';
  let agentSaid = '';
  let discovers = 0;
  const machine = new Machine(
    {
      ramSize: RAM_MIB << 20,
      bios,
      kernel,
      initrd,
      bootargs,
      sharedMemory: true,
      coreModule: coreModule(),
      shares: [{ tag: SHARE_TAG, port: new NinePServer(new MemoryTree()) }],
      net: {
        mac: parseMacAddress(TUTORIAL_MAC),
        link: { receive: (frame) => void (isDhcpDiscover(frame) && discovers++) },
      },
      agent: { write: (byte) => void (agentSaid += String.fromCharCode(byte)) },
    },
    { console: { write: (byte) => void (out += String.fromCharCode(byte)) } },
  );
  await runUntil(machine, () => atPrompt(out), 'waiting for the shell prompt');
  const from = out.length;
  const line = new TextEncoder().encode(`${promptSetupLine()}\r`);
  let typed = 0;
  while (typed < line.length) {
    typed += machine.receiveInput(line.subarray(typed));
    machine.runSlice();
  }
  // The prompt after the setup line carries the status marker: the shell took it and waits again.
  await runUntil(
    machine,
    () => out.slice(from).search(STATUS_MARKER) >= 0 && atPrompt(out.slice(from)),
    'waiting for the prompt after the setup line',
  );
  // The guest agent starts 2 s after boot; it opens its port and says hello.
  await runUntil(machine, () => /^hello \d+$/m.test(agentSaid), 'waiting for the guest agent to say hello');
  // The first DISCOVER of a round, then guest time until just before the next (3 s later): the restored
  // guest asks again at once, and has its lease before a reader can click a step that needs it.
  const round = Math.ceil(discovers / DISCOVERS_PER_ROUND) * DISCOVERS_PER_ROUND + 1;
  await runUntil(machine, () => discovers >= round, 'waiting for udhcpc to start a round of DHCPDISCOVERs');
  const after = machine.clock.ticks();
  await runUntil(
    machine,
    () => machine.clock.ticks() - after >= BEFORE_NEXT_DISCOVER_TICKS || discovers > round,
    'waiting until just before the next DHCPDISCOVER',
  );
  const file = await encodeSnapshot(captureSnapshot(machine));
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, file);
  console.log(`wrote ${relative(repoRoot, OUT)} (${(file.length / 2 ** 20).toFixed(2)} MiB)`);
}
