/**
 * `npm run bench`: boots the default image and runs a fixed workload at its prompt, under tabvm and, when
 * `qemu-system-riscv64` is installed, under QEMU with the same files in the same run. Prints seconds to
 * the prompt, each workload's host wall time, tabvm's guest MIPS, and every figure as a ratio to QEMU.
 * A benchmark, not a test: it asserts nothing about speed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { benchRuns, hostLine, median } from './lib/bench-common.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';
import { cpuSeconds } from './lib/cpu-time.ts';
import { resolveVmFiles } from './lib/vm-options.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const imageDir = resolve(root, 'public/images/default');
const PROMPT = 'root@tabvm:~# ';
const manifest = JSON.parse(readFileSync(resolve(imageDir, 'manifest.json'), 'utf8')) as {
  files: Record<'bios' | 'kernel' | 'initrd', { path: string }>;
};

const WORKLOADS = [
  { name: 'shell loop (20000 iterations)', command: "time sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'" },
  { name: 'sha256sum of 8 MiB', command: 'dd if=/dev/zero bs=1M count=8 2>/dev/null | time sha256sum' },
] as const;

/** A phase's cost: host wall seconds and the emulator process's CPU seconds (all its threads). */
interface Cost {
  wall: number;
  cpu: number;
}

interface Figures {
  boot: Cost;
  workloads: Cost[];
  /** Guest MIPS per workload: instructions over the emulator's CPU seconds. */
  mips?: number[];
}

/** Runs `phase` and returns what it cost. */
async function cost<T>(pid: number | undefined, phase: () => Promise<T>): Promise<{ cost: Cost; result: T }> {
  const wall0 = performance.now();
  const cpu0 = cpuSeconds(pid);
  const result = await phase();
  return { cost: { wall: (performance.now() - wall0) / 1000, cpu: cpuSeconds(pid) - cpu0 }, result };
}

async function measure(con: TextConsole, pid: number | undefined, instructions?: () => number): Promise<Figures> {
  const boot = await cost(pid, () => con.waitFor(PROMPT, 600_000));
  let at = boot.result;
  const workloads: Cost[] = [];
  const mips: number[] = [];
  for (const [i, w] of WORKLOADS.entries()) {
    const before = instructions?.() ?? 0;
    const marker = 1000 * (i + 1);
    // The marker is computed by the shell, so the echoed command line cannot match it.
    const run = await cost(pid, () => {
      con.type(`${w.command}; echo BENCH-$((${marker}+1))-END\n`);
      return con.waitFor(`BENCH-${marker + 1}-END`, 600_000, at);
    });
    workloads.push(run.cost);
    if (instructions) mips.push((instructions() - before) / run.cost.cpu / 1e6);
    at = await con.waitFor(PROMPT, 60_000, run.result);
  }
  return { boot: boot.cost, workloads, ...(instructions ? { mips } : {}) };
}

async function benchTabvm(bootargs: string): Promise<Figures> {
  const files = { ...resolveVmFiles({ image: 'default', mem: '256M' }, resolve(root, 'public/images')), bootargs };
  const vm = new NodeVm(files);
  const con = new NodeVmConsole(vm);
  try {
    return await measure(con, undefined, () => vm.instructions);
  } finally {
    await vm.terminate();
  }
}

async function benchQemu(bootargs: string): Promise<Figures> {
  const session = new ConsoleSession('qemu-system-riscv64', [
    '-machine',
    'virt',
    '-m',
    '256M',
    '-smp',
    '1',
    '-nographic',
    '-no-reboot',
    '-cpu',
    QEMU_TABVM_CPU,
    '-bios',
    resolve(imageDir, manifest.files.bios.path),
    '-kernel',
    resolve(imageDir, manifest.files.kernel.path),
    '-initrd',
    resolve(imageDir, manifest.files.initrd.path),
    '-append',
    bootargs,
  ]);
  try {
    return await measure(session, session.pid);
  } finally {
    session.kill();
  }
}

const manifestBootargs = resolveVmFiles({ image: 'default' }, resolve(root, 'public/images')).bootargs;
// The kernel's crypto self-tests run in the background after boot and would skew the workloads.
const bootargs = manifestBootargs.includes('cryptomgr.notests')
  ? manifestBootargs
  : `${manifestBootargs} cryptomgr.notests`;

const runs = benchRuns('npm run bench --');

console.log(hostLine('tabvm benchmark'));
console.log(
  `image: public/images/default, 256 MiB, bootargs "${bootargs}"; QEMU with tabvm's ISA (rv64imafdc_zicsr_zifencei)`,
);
console.log(
  `${runs} rounds alternating tabvm and QEMU (this machine drifts between runs); each figure is the median\n`,
);
const haveQemu = qemuAvailable();
const tabvmRounds: Figures[] = [];
const qemuRounds: Figures[] = [];
for (let round = 0; round < runs; round++) {
  tabvmRounds.push(await benchTabvm(bootargs));
  if (haveQemu) qemuRounds.push(await benchQemu(bootargs));
}

const medianCost = (costs: Cost[]): Cost => ({
  wall: median(costs.map((c) => c.wall)),
  cpu: median(costs.map((c) => c.cpu)),
});
function medianFigures(rounds: Figures[]): Figures {
  return {
    boot: medianCost(rounds.map((r) => r.boot)),
    workloads: WORKLOADS.map((_, i) => medianCost(rounds.map((r) => r.workloads[i]!))),
    ...(rounds[0]?.mips ? { mips: WORKLOADS.map((_, i) => median(rounds.map((r) => r.mips![i]!))) } : {}),
  };
}
const tabvm = medianFigures(tabvmRounds);
const qemu = haveQemu ? medianFigures(qemuRounds) : undefined;

const rows: [string, Cost, Cost | undefined, number | undefined][] = [
  ['boot to prompt', tabvm.boot, qemu?.boot, undefined],
  ...WORKLOADS.map((w, i): [string, Cost, Cost | undefined, number | undefined] => [
    w.name,
    tabvm.workloads[i]!,
    qemu?.workloads[i],
    tabvm.mips?.[i],
  ]),
];
const ratio = (ours: number, theirs: number | undefined): string =>
  theirs === undefined ? 'n/a' : `${(ours / theirs).toFixed(2)}×`;
console.log(
  'Wall: host seconds. CPU: seconds of CPU the emulator used (all threads), which other load on the machine does not inflate.\n',
);
console.log(
  '| measure | tabvm wall (s) | QEMU wall (s) | wall ratio | tabvm CPU (s) | QEMU CPU (s) | CPU ratio | tabvm guest MIPS |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, ours, theirs, mips] of rows) {
  console.log(
    `| ${name} | ${ours.wall.toFixed(2)} | ${theirs?.wall.toFixed(2) ?? 'not installed'} | ${ratio(ours.wall, theirs?.wall)} | ` +
      `${ours.cpu.toFixed(2)} | ${theirs?.cpu.toFixed(2) ?? ''} | ${ratio(ours.cpu, theirs?.cpu)} | ${mips?.toFixed(0) ?? ''} |`,
  );
}
process.exit(0);
