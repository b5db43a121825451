// Several harts (npm run vm -- --smp N, docs/harts.md): the default image boots with its devices in one
// worker thread and each hart in a worker thread of its own, over one shared memory. OpenSBI brings the
// secondary harts up (HSM through IPIs: a CLINT msip write wakes a hart asleep in WFI), Linux counts
// them, and its scheduler spreads busy shell jobs over all of them; a reboot waits for every hart. Ctrl-A S refuses in one line rather
// than write a file that holds one hart; bad --smp values are refused in one line with exit status 2.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';

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
    const counts = vm.output.slice(at, end).split(/\r?\n/).map((l) => l.trim());
    expect(counts.filter((line) => line === String(harts))).toHaveLength(2);
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
    vm.type('\x01s');
    at = await vm.waitFor('snapshots of a VM with more than one CPU are not supported yet', 10_000, at);
    expect(readdirSync(saveDir)).toEqual([]);
    if (reboot) {
      vm.type('reboot\r');
      at = await vm.waitFor('Welcome to tabvm', 500_000, at);
      at = await vm.waitFor(PROMPT, 100_000, at);
      vm.type('nproc; echo AGAIN-$((1+1))\r');
      end = await vm.waitFor('AGAIN-2', 60_000, at);
      expect(vm.output.slice(at, end).split(/\r?\n/).map((l) => l.trim())).toContain(String(harts));
      at = await vm.waitFor(PROMPT, 10_000, end);
    }
    vm.type('poweroff\r');
    await vm.waitFor('reboot: Power down', 60_000, at);
    expect(await vm.exitCode(30_000)).toBe(0);
  } finally {
    vm.kill();
  }
}

describe('npm run vm -- --smp N', () => {
  it('boots the default image on 2 harts, each running a shell job, and reboots with both', () => bootSmp(2, true), 900_000);

  it('boots the default image on 4 harts, each running a shell job', () => bootSmp(4, false), 900_000);

  it.each(['0', '9', 'two', '2.5', 'cpus=12'])('refuses --smp %s in one line with exit status 2', async (value) => {
    const vm = tabvmSession(['--smp', value], root);
    expect(await vm.exitCode(60_000)).toBe(2);
    const lines = vm.output.trim().split('\n');
    expect(lines).toEqual([`tabvm: --smp ${value}: 1 to 8 CPUs`]);
  }, 90_000);

  it('runs a bare-metal program on hart 0 (the others parked) to its tohost exit code', async () => {
    const vm = tabvmSession(['--smp', '2', '--bios', 'tests/baremetal/bin/exit-code/7.elf'], root);
    expect(await vm.exitCode(120_000)).toBe(7);
  }, 150_000);

  it('refuses more than one hart with a disk, which the multi-hart runner does not attach yet', async () => {
    const disk = resolve(mkdtempSync(resolve(tmpdir(), 'tabvm-smp-disk-')), 'disk.img');
    writeFileSync(disk, new Uint8Array(1 << 20));
    const vm = tabvmSession(['--smp', '2', '--disk', disk], root);
    expect(await vm.exitCode(60_000)).toBe(2);
    expect(vm.output.trim().split('\n')).toEqual(['tabvm: --smp 2: disks are not supported with more than one CPU yet']);
  }, 90_000);
});
