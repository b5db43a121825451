// Several harts (npm run vm -- --smp N, docs/harts.md): the default image boots with its devices in the VM
// runtime's worker thread and each hart in a worker thread of its own, over one shared memory. OpenSBI
// brings the secondary harts up (HSM through IPIs: a CLINT msip write wakes a hart asleep in WFI), Linux
// counts them, and its scheduler spreads busy shell jobs over all of them; a reboot waits for every hart.
// Disks, shared folders and the network card work with several harts; a snapshot stops every hart, records them all and
// restores with as many (another count is refused in one line); bad --smp values are refused in one line
// with exit status 2.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';
import { CPU_COUNT_COMMAND, cpuCount, expectedCpuCount } from './cpu-count.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';

/** Each CPU's user time in ticks, from the cpuN lines of /proc/stat as printed between two markers. */
function userTicks(text: string): number[] {
  return [...text.matchAll(/^cpu(\d+) (\d+)/gm)].map((m) => Number(m[2]));
}

/** `reboot`: also reboot the guest, which every hart must acknowledge before the images load again. */
async function bootSmp(harts: number, reboot: boolean): Promise<void> {
  const saveDir = mkdtempSync(resolve(tmpdir(), 'tabvm-smp-'));
  // `script` gives the runner a pseudo-terminal, so Ctrl-A reaches its escape handling.
  const vm = new ConsoleSession(
    'script',
    ['-qfec', `${process.execPath} --import tsx scripts/vm.ts --smp ${harts} --save-dir ${saveDir}`, '/dev/null'],
    { cwd: root },
  );
  try {
    let at = await vm.waitFor(PROMPT, 500_000);
    // The markers are computed by the shell, so the echo of the typed line cannot match them.
    vm.type('nproc; grep -c ^processor /proc/cpuinfo; echo DONE-$((40+2))\r');
    let end = await vm.waitFor('DONE-42', 60_000, at);
    const counts = vm.output
      .slice(at, end)
      .split(/\r?\n/)
      .map((l) => l.trim());
    expect(counts.filter((line) => line === String(harts))).toHaveLength(2);
    at = await vm.waitFor(PROMPT, 10_000, end);
    // The network card (the runner's default, --net user) works with every hart count: the lease udhcpc
    // takes in the background at boot, then a ping of the gateway.
    vm.type(
      'for i in $(seq 40); do ip -4 addr show eth0 | grep -q 10.0.2.15 && break; sleep 0.5; done; ' +
        'ping -c 1 -W 5 10.0.2.2 >/dev/null && echo NET-OK-$((1+1)); echo NET-DONE-$((1+2))\r',
    );
    end = await vm.waitFor('NET-DONE-3', 60_000, at);
    expect(vm.output.slice(at, end)).toContain('NET-OK-2');
    at = await vm.waitFor(PROMPT, 10_000, end);
    // One busy shell job per hart; each hart's user time grows while they run.
    vm.type(
      `grep ^cpu /proc/stat; echo BEFORE-$((1+1)); for j in $(seq ${harts}); do (i=0; while [ $i -lt 30000 ]; ` +
        `do i=$((i+1)); done; echo job$i) & done; wait; grep ^cpu /proc/stat; echo AFTER-$((2+2))\r`,
    );
    const before = await vm.waitFor('BEFORE-2', 60_000, at);
    end = await vm.waitFor('AFTER-4', 400_000, before);
    const ticksBefore = userTicks(vm.output.slice(at, before));
    const jobs = vm.output.slice(before, end);
    const ticksAfter = userTicks(jobs);
    expect(jobs.match(/job30000/g)).toHaveLength(harts);
    expect(ticksBefore).toHaveLength(harts);
    expect(ticksAfter).toHaveLength(harts);
    for (let cpu = 0; cpu < harts; cpu++) expect(ticksAfter[cpu]!).toBeGreaterThan(ticksBefore[cpu]!);
    at = await vm.waitFor(PROMPT, 10_000, end);
    if (reboot) {
      vm.type('reboot\r');
      at = await vm.waitFor('Welcome to tabvm', 500_000, at);
      at = await vm.waitFor(PROMPT, 100_000, at);
      vm.type('nproc; echo AGAIN-$((1+1))\r');
      end = await vm.waitFor('AGAIN-2', 60_000, at);
      expect(
        vm.output
          .slice(at, end)
          .split(/\r?\n/)
          .map((l) => l.trim()),
      ).toContain(String(harts));
      at = await vm.waitFor(PROMPT, 10_000, end);
    }
    vm.type('poweroff\r');
    await vm.waitFor('reboot: Power down', 60_000, at);
    expect(await vm.exitCode(30_000)).toBe(0);
  } finally {
    vm.kill();
  }
}

/** Each shell counter's value, from the `C<j>=<n>` lines between `from` and `to`. */
function counters(text: string): number[] {
  return [...text.matchAll(/^C(\d)=(\d+)\r?$/gm)].sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => Number(m[2]));
}

/** Prints every counter as C<j>=<n> (each file is replaced by a rename, so a read never sees it half written). */
const PRINT_COUNTERS = 'for f in /tmp/c?; do read v < $f; echo "C${f#/tmp/c}=$v"; done';

/**
 * A snapshot with `harts` harts while one shell counter per hart runs: every hart stops for it, the file
 * records them all, a restore with as many continues every counter from where it stood (and each hart
 * runs again), and a restore with another count is refused in one line.
 */
async function snapshotSmp(harts: number): Promise<void> {
  const saveDir = mkdtempSync(resolve(tmpdir(), 'tabvm-smp-snap-'));
  const vm = new ConsoleSession(
    'script',
    ['-qfec', `${process.execPath} --import tsx scripts/vm.ts --smp ${harts} --save-dir ${saveDir}`, '/dev/null'],
    { cwd: root },
  );
  let file: string;
  let before: number[];
  try {
    let at = await vm.waitFor(PROMPT, 500_000);
    vm.type(
      `for j in $(seq ${harts}); do (i=0; while true; do i=$((i+1)); echo $i > /tmp/t$j; mv /tmp/t$j /tmp/c$j; done) & done; ` +
        `sleep 3; ${PRINT_COUNTERS}; echo BEFORE-$((1+1))\r`,
    );
    const end = await vm.waitFor('BEFORE-2', 120_000, at);
    before = counters(vm.output.slice(at, end));
    expect(before).toHaveLength(harts);
    at = await vm.waitFor(PROMPT, 10_000, end);
    vm.type('\x01s');
    at = await vm.waitFor(/snapshot saved to (\S+) /, 120_000, at);
    file = /snapshot saved to (\S+) /.exec(vm.output.slice(0, at))![1]!;
    expect(readdirSync(saveDir)).toHaveLength(1);
    vm.type('\x01x');
    expect(await vm.exitCode(30_000)).toBe(0);
  } finally {
    vm.kill();
  }
  const other = harts === 2 ? 4 : 2;
  const refused = tabvmSession(['--snapshot', file, '--smp', String(other)], root);
  expect(await refused.exitCode(60_000)).toBe(2);
  expect(refused.output.trim().split('\n')).toEqual([
    `tabvm: --snapshot ${file}: it was taken with ${harts} CPUs; start it with --smp ${harts}`,
  ]);
  // Without --smp the snapshot's own count.
  const restored = tabvmSession(harts === 2 ? ['--snapshot', file, '--smp', '2'] : ['--snapshot', file], root);
  try {
    restored.type(`nproc; grep ^cpu /proc/stat; ${PRINT_COUNTERS}; echo FIRST-$((1+1))\r`);
    let at = await restored.waitFor('FIRST-2', 300_000);
    const first = restored.output.slice(0, at);
    const ticksFirst = userTicks(first);
    const continued = counters(first);
    expect(first.split(/\r?\n/).map((l) => l.trim())).toContain(String(harts));
    expect(continued).toHaveLength(harts);
    // From where each counter stood when the snapshot was taken (after `before`), not from zero.
    for (let j = 0; j < harts; j++) expect(continued[j]!).toBeGreaterThanOrEqual(before[j]!);
    restored.type(`sleep 3; grep ^cpu /proc/stat; ${PRINT_COUNTERS}; echo SECOND-$((2+2))\r`);
    const end = await restored.waitFor('SECOND-4', 300_000, at);
    const second = restored.output.slice(at, end);
    const later = counters(second);
    const ticksLater = userTicks(second);
    expect(later).toHaveLength(harts);
    for (let j = 0; j < harts; j++) expect(later[j]!).toBeGreaterThan(continued[j]!);
    expect(ticksFirst).toHaveLength(harts);
    expect(ticksLater).toHaveLength(harts);
    for (let cpu = 0; cpu < harts; cpu++) expect(ticksLater[cpu]!).toBeGreaterThan(ticksFirst[cpu]!);
    at = await restored.waitFor(PROMPT, 10_000, end);
    restored.type('poweroff\r');
    await restored.waitFor('reboot: Power down', 120_000, at);
    expect(await restored.exitCode(30_000)).toBe(0);
  } finally {
    restored.kill();
  }
}

describe('npm run vm -- --smp N', () => {
  it(
    'boots the default image on 2 harts, each running a shell job, and reboots with both',
    () => bootSmp(2, true),
    900_000,
  );

  it('boots the default image on 4 harts, each running a shell job', () => bootSmp(4, false), 900_000);

  // 1 hart is the one-thread path (no hart workers); 8 is the most a VM has (MAX_CPUS).
  it.each([1, 8])(
    'boots the default image with --smp %i: nproc and /proc/cpuinfo count the harts',
    async (harts) => {
      const vm = tabvmSession(['--smp', String(harts)], root);
      try {
        let at = await vm.waitFor(PROMPT, 500_000);
        vm.type(`${CPU_COUNT_COMMAND}; echo DONE-$((40+2))\r`);
        const end = await vm.waitFor('DONE-42', 120_000, at);
        expect(cpuCount(vm.output.slice(at, end).split(/\r?\n/))).toEqual(expectedCpuCount(harts));
        at = await vm.waitFor(PROMPT, 10_000, end);
        vm.type('poweroff\r');
        await vm.waitFor('reboot: Power down', 120_000, at);
        expect(await vm.exitCode(30_000)).toBe(0);
      } finally {
        vm.kill();
      }
    },
    900_000,
  );

  it.each([2, 4])(
    'snapshots %i harts while a counter runs on each, and restores them all',
    (harts) => snapshotSmp(harts),
    900_000,
  );

  it.each(['0', '9', 'two', '2.5', 'cpus=12'])(
    'refuses --smp %s in one line with exit status 2',
    async (value) => {
      const vm = tabvmSession(['--smp', value], root);
      expect(await vm.exitCode(60_000)).toBe(2);
      const lines = vm.output.trim().split('\n');
      expect(lines).toEqual([`tabvm: --smp ${value}: 1 to 8 CPUs`]);
    },
    90_000,
  );

  it('runs a bare-metal program on hart 0 (the others parked) to its tohost exit code', async () => {
    const vm = tabvmSession(['--smp', '2', '--bios', 'tests/baremetal/bin/exit-code/7.elf'], root);
    expect(await vm.exitCode(120_000)).toBe(7);
  }, 150_000);

  it('reads and writes a disk and a shared folder on 2 harts', async () => {
    const dir = mkdtempSync(resolve(tmpdir(), 'tabvm-smp-disk-'));
    const disk = resolve(dir, 'disk.img');
    const bytes = new Uint8Array(1 << 20);
    bytes.set(new TextEncoder().encode('DISK-SECTOR-ZERO'));
    writeFileSync(disk, bytes);
    const share = resolve(dir, 'share');
    mkdirSync(share);
    writeFileSync(resolve(share, 'hello.txt'), 'hello from the host\n');
    const vm = tabvmSession(['--smp', '2', '--disk', disk, '--share', share], root);
    try {
      let at = await vm.waitFor(PROMPT, 500_000);
      vm.type(
        'nproc; head -c 16 /dev/vda; echo; cat /mnt/shared/hello.txt; echo guest-wrote > /mnt/shared/out.txt; ' +
          'echo WRITTEN-BY-GUEST | dd of=/dev/vda bs=512 seek=1 conv=sync 2>/dev/null; sync; echo DONE-$((40+2))\r',
      );
      const end = await vm.waitFor('DONE-42', 120_000, at);
      const lines = vm.output
        .slice(at, end)
        .split(/\r?\n/)
        .map((l) => l.trim());
      expect(lines).toContain('2');
      expect(lines).toContain('DISK-SECTOR-ZERO');
      expect(lines).toContain('hello from the host');
      at = await vm.waitFor(PROMPT, 10_000, end);
      expect(readFileSync(resolve(share, 'out.txt'), 'utf8')).toBe('guest-wrote\n');
      expect(new TextDecoder().decode(readFileSync(disk).subarray(512, 528))).toBe('WRITTEN-BY-GUEST');
      vm.type('poweroff\r');
      await vm.waitFor('reboot: Power down', 60_000, at);
      expect(await vm.exitCode(30_000)).toBe(0);
    } finally {
      vm.kill();
    }
  }, 900_000);
});
