/**
 * `tsx scripts/make-debian-snapshot.ts [--bootargs ARGS] [--no-shrink]`: the pre-booted snapshot of
 * the Debian image (public/images/debian/snapshot.tabvm), which a new Debian VM starts from instead of
 * booting (docs/images.md). scripts/build-debian-image.sh runs it as its last step; run alone, it
 * remakes the snapshot of the image that is there.
 *
 * It boots the image in a Node worker thread through the VM runtime (scripts/lib/node-vm.ts) with the
 * image's default RAM, its disk read lazily under an overlay, waits for bash's prompt, types one line
 * (a restored console shows nothing from before, so nobody sees it), and takes a full snapshot, which
 * holds the overlay blocks the guest wrote while it booted. The line:
 * - SHRINK_LINE: the free RAM made zero pages, which the snapshot does not store (measured:
 *   docs/performance.md#debian-from-its-snapshot);
 * - CLOCK_SYNC_LINE: bash sets the clock from the RTC before the first command after the restore
 *   (scripts/lib/debian-clock.ts says why);
 * - LEASE_LINE: the guest has its DHCP lease. The VM has a network card (PREBOOTED_MAC) on the user-mode
 *   network, so a VM started from the snapshot has its card, with eth0 at 10.0.2.15, and reaches the
 *   network at once (the browser's network answers at the same addresses, docs/networking.md).
 * Then manifest.json gets `snapshot` (file, size, sha256, RAM), which workers/protocol/image-manifest.ts
 * checks.
 *
 * --bootargs boots with other kernel arguments than the manifest's (to measure, e.g. init_on_free=1);
 * the manifest is then left alone and the snapshot written to build/debian-image/ instead.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { repoRoot } from './lib/in-process.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { DEBIAN_PROMPT, debianImageDir } from './lib/debian-scenario.ts';
import { parseImageManifest } from '../workers/protocol/image-manifest.ts';
import { CLOCK_SYNC_LINE } from './lib/debian-clock.ts';
import { NodeUserNetwork } from './lib/node-network.ts';

const BOOT_TIMEOUT_MS = 900_000;
/**
 * Empties the guest's free RAM before the capture. The page cache goes first (`drop_caches`); but a freed
 * page keeps its bytes, and the snapshot stores every non-zero page, so then dd takes all free memory
 * less 8 MiB as one buffer, which the kernel hands over zeroed and /dev/zero fills with zeros, and gives
 * it back: the free pages are zero pages now, which cost nothing in the snapshot.
 */
const SHRINK_LINE =
  'sync; echo 3 > /proc/sys/vm/drop_caches; ' +
  'while read -r key kib _; do [ "$key" = MemFree: ] && free=$kib; done < /proc/meminfo; ' +
  'dd if=/dev/zero of=/dev/null bs=$((free - 8192))K count=1 status=none; unset key kib _ free';
const SNAPSHOT_FILE = 'snapshot.tabvm';
/**
 * The network card's address in the snapshot (QEMU's default NIC address). A VM started from the
 * snapshot gives its card its own address, and the guest agent re-addresses eth0 to it and leases
 * again (docs/guest-agent.md).
 */
const PREBOOTED_MAC = '52:54:00:12:34:56';
/** Waits (up to 30 s) until dhclient, which ifupdown starts in the background at boot, has its lease. */
const LEASE_LINE = 'for i in $(seq 60); do ip -4 -o addr show eth0 | grep -q 10.0.2.15 && break; sleep 0.5; done';

const cli = new Command()
  .option('--bootargs <args>', "boot with these kernel arguments instead of the manifest's (a measurement)")
  .option('--no-shrink', 'snapshot the RAM as the boot left it, page cache and all (a measurement)')
  .parse()
  .opts<{ bootargs?: string; shrink: boolean }>();

const dir = debianImageDir(repoRoot);
const manifestPath = join(dir, 'manifest.json');
const manifestJson = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
// A snapshot from an earlier run is not part of the image it is made of.
delete manifestJson.snapshot;
const manifest = parseImageManifest(manifestJson);
if (!manifest.disk || !manifest.files.kernel) throw new Error(`${manifestPath} is not a disk image with a kernel`);
const measuring = cli.bootargs !== undefined || !cli.shrink;
const bootargs = cli.bootargs ?? manifest.bootargs;

const started = performance.now();
const network = new NodeUserNetwork();
const vm = new NodeVm(
  {
    bios: readFileSync(join(dir, manifest.files.bios.path)),
    kernel: readFileSync(join(dir, manifest.files.kernel.path)),
    bootargs,
    ramSize: manifest.memory.default << 20,
    disks: [{ path: dir, readOnly: false, chunked: manifest.disk }],
    net: { mac: PREBOOTED_MAC },
  },
  undefined,
  { onNetwork: network.hook },
);
const con = new NodeVmConsole(vm);
try {
  let at = await con.waitFor(DEBIAN_PROMPT, BOOT_TIMEOUT_MS);
  const booted = (performance.now() - started) / 1000;
  // A leading space keeps the line out of bash's history (Debian's HISTCONTROL=ignoreboth).
  const drop = cli.shrink ? `${SHRINK_LINE}; ` : '';
  con.type(` ${LEASE_LINE}; ${drop}${CLOCK_SYNC_LINE}; echo SNAPSHOT-$((6*7))-READY\n`);
  at = await con.waitFor('SNAPSHOT-42-READY', 120_000, at);
  await con.waitFor(DEBIAN_PROMPT, 60_000, at);
  // The guest agent has its port open, so a VM started from the snapshot has an agent that listens.
  const agentDeadline = performance.now() + 60_000;
  while (vm.agent.state.version === undefined) {
    if (performance.now() > agentDeadline) throw new Error('the guest agent did not say hello within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const file = await vm.snapshot();
  const out = measuring ? resolve(repoRoot, 'build/debian-image', SNAPSHOT_FILE) : join(dir, SNAPSHOT_FILE);
  mkdirSync(resolve(out, '..'), { recursive: true });
  writeFileSync(out, file);
  if (!measuring) {
    const entry = {
      path: SNAPSHOT_FILE,
      size: file.length,
      sha256: createHash('sha256').update(file).digest('hex'),
      memory: manifest.memory.default,
    };
    const updated = { ...manifestJson, snapshot: entry };
    parseImageManifest(updated);
    writeFileSync(manifestPath, `${JSON.stringify(updated, null, 2)}\n`);
  }
  console.log(
    `booted to the prompt in ${booted.toFixed(1)} s (bootargs "${bootargs}"); wrote ${relative(repoRoot, out)}: ` +
      `${file.length} bytes (${(file.length / 2 ** 20).toFixed(2)} MiB)${measuring ? '' : ', named in manifest.json'}`,
  );
} finally {
  await vm.terminate();
}
process.exit(0);
