/**
 * `npm run bench:smp`: what several harts give and cost (issue 16, docs/harts.md), each figure against
 * the same machine with one hart in the same run, and QEMU's `-smp` beside it:
 * - a parallel workload, two `sha256sum` of 8 MiB at once, on 2 harts against 1 (the speed-up);
 * - a one-thread workload, the shell loop, with 2 harts against 1 (what SMP costs it);
 * - boot to the prompt with 4 harts against 1.
 * Every configuration boots a VM of its own; rounds alternate the configurations and the emulators, and
 * each figure is the median wall time of the rounds. A benchmark, not a test: it asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { loadavg } from 'node:os';
import { benchRuns, hostLine, median } from './lib/bench-common.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';
import { resolveVmFiles } from './lib/vm-options.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const imageDir = resolve(root, 'public/images/default');
const PROMPT = 'root@tabvm:~# ';
const manifest = JSON.parse(readFileSync(resolve(imageDir, 'manifest.json'), 'utf8')) as {
  files: Record<'bios' | 'kernel' | 'initrd', { path: string }>;
};

const SHA = 'dd if=/dev/zero bs=1M count=8 2>/dev/null | sha256sum';
const WORKLOADS = [
  { name: 'two sha256sum of 8 MiB at once', command: `(${SHA}) & (${SHA}) & wait` },
  { name: 'shell loop (20000 iterations)', command: "sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'" },
] as const;

/** One VM's figures: seconds to the prompt and, when asked, each workload's wall seconds. */
interface Figures {
  boot: number;
  workloads: number[];
}

async function measure(con: TextConsole, workloads: boolean): Promise<Figures> {
  const start = performance.now();
  let at = await con.waitFor(PROMPT, 900_000);
  const boot = (performance.now() - start) / 1000;
  const times: number[] = [];
  if (workloads) {
    for (const [i, w] of WORKLOADS.entries()) {
      const marker = 1000 * (i + 1);
      const t0 = performance.now();
      // The marker is computed by the shell, so the echoed command line cannot match it.
      con.type(`${w.command}; echo BENCH-$((${marker}+1))-END\n`);
      const end = await con.waitFor(`BENCH-${marker + 1}-END`, 900_000, at);
      times.push((performance.now() - t0) / 1000);
      at = await con.waitFor(PROMPT, 60_000, end);
    }
  }
  return { boot, workloads: times };
}

async function tabvm(bootargs: string, harts: number, workloads: boolean): Promise<Figures> {
  const files = { ...resolveVmFiles({ image: 'default', mem: '256M' }, resolve(root, 'public/images')), bootargs };
  const vm = new NodeVm(files, undefined, { harts });
  try {
    return await measure(new NodeVmConsole(vm), workloads);
  } finally {
    await vm.terminate();
  }
}

async function qemu(bootargs: string, harts: number, workloads: boolean): Promise<Figures> {
  const session = new ConsoleSession('qemu-system-riscv64', [
    ...['-machine', 'virt', '-m', '256M', '-smp', String(harts), '-nographic', '-no-reboot'],
    ...['-cpu', QEMU_TABVM_CPU, '-bios', resolve(imageDir, manifest.files.bios.path)],
    ...['-kernel', resolve(imageDir, manifest.files.kernel.path), '-initrd', resolve(imageDir, manifest.files.initrd.path)],
    ...['-append', bootargs],
  ]);
  try {
    return await measure(session, workloads);
  } finally {
    session.kill();
  }
}

const manifestBootargs = resolveVmFiles({ image: 'default' }, resolve(root, 'public/images')).bootargs;
// The kernel's crypto self-tests run in the background after boot and would skew the workloads.
const bootargs = manifestBootargs.includes('cryptomgr.notests') ? manifestBootargs : `${manifestBootargs} cryptomgr.notests`;
const runs = benchRuns('npm run bench:smp --');
const haveQemu = qemuAvailable();

console.log(hostLine('tabvm SMP benchmark'));
console.log(`image: public/images/default, 256 MiB, bootargs "${bootargs}"; QEMU (TCG) with tabvm's ISA`);
console.log(`${runs} rounds, each booting 1, 2 and 4 harts in turn (tabvm, then QEMU); each figure is the median wall time`);
const load = [loadavg()[0]!];

type Emulator = (bootargs: string, harts: number, workloads: boolean) => Promise<Figures>;
const emulators: [string, Emulator][] = [['tabvm', tabvm], ...(haveQemu ? [['QEMU', qemu] as [string, Emulator]] : [])];
const results = new Map<string, Figures[]>();
for (let round = 0; round < runs; round++) {
  for (const [name, run] of emulators) {
    for (const harts of [1, 2, 4]) {
      const key = `${name}/${harts}`;
      results.set(key, [...(results.get(key) ?? []), await run(bootargs, harts, harts <= 2)]);
      load.push(loadavg()[0]!);
    }
  }
}

const boot = (key: string): number => median(results.get(key)!.map((f) => f.boot));
const workload = (key: string, i: number): number => median(results.get(key)!.map((f) => f.workloads[i]!));
const rows: [string, string, (name: string) => [number, number]][] = [
  [WORKLOADS[0].name, 'speed-up 1→2 harts', (name) => [workload(`${name}/1`, 0), workload(`${name}/2`, 0)]],
  [WORKLOADS[1].name, 'cost of 2 harts', (name) => [workload(`${name}/1`, 1), workload(`${name}/2`, 1)]],
  ['boot to prompt', '4 harts / 1', (name) => [boot(`${name}/1`), boot(`${name}/4`)]],
];
console.log(`load average (1 min) during the runs: ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}\n`);
console.log('| measure | emulator | 1 hart (s) | N harts (s) | figure |');
console.log('|---|---|---:|---:|---:|');
for (const [measureName, figure, times] of rows) {
  for (const [name] of emulators) {
    const [one, many] = times(name);
    const value = figure.startsWith('speed-up') ? `${(one / many).toFixed(2)}× faster` : `${(many / one).toFixed(2)}×`;
    console.log(`| ${measureName} | ${name} | ${one.toFixed(2)} | ${many.toFixed(2)} | ${figure}: ${value} |`);
  }
}
process.exit(0);
