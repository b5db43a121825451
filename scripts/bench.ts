/**
 * `npm run bench`: boots the default image and runs a fixed workload at its prompt, under tabvm and, when
 * `qemu-system-riscv64` is installed, under QEMU with the same files in the same run. Prints seconds to
 * the prompt, each workload's host wall time, tabvm's guest MIPS, and every figure as a ratio to QEMU.
 * A benchmark, not a test: it asserts nothing about speed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { cpus } from 'node:os';
import { resolveVmFiles } from './lib/vm-options.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const imageDir = resolve(root, 'public/images/default');
const PROMPT = '# ';
const manifest = JSON.parse(readFileSync(resolve(imageDir, 'manifest.json'), 'utf8')) as {
  files: Record<'bios' | 'kernel' | 'initrd', { path: string }>;
};

const WORKLOADS = [
  { name: 'shell loop (20000 iterations)', command: "time sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'" },
  { name: 'sha256sum of 8 MiB', command: 'dd if=/dev/zero bs=1M count=8 2>/dev/null | time sha256sum' },
] as const;

interface Figures {
  boot: number;
  workloads: number[];
  mips?: { boot: number; workloads: number[] };
}

/** Seconds for `command` from typing it to the shell's answer, measured on the host. */
async function timeCommand(con: TextConsole, command: string, from: number, marker: number): Promise<{ seconds: number; end: number }> {
  const start = performance.now();
  // The marker is computed by the shell, so the echoed command line cannot match it.
  con.type(`${command}; echo BENCH-$((${marker}+1))-END\n`);
  const end = await con.waitFor(`BENCH-${marker + 1}-END`, 600_000, from);
  return { seconds: (performance.now() - start) / 1000, end };
}

async function measure(con: TextConsole, instructions?: () => number): Promise<Figures> {
  const t0 = performance.now();
  let at = await con.waitFor(PROMPT, 600_000);
  const boot = (performance.now() - t0) / 1000;
  const bootInstructions = instructions?.() ?? 0;
  const workloads: number[] = [];
  const mips: number[] = [];
  for (const [i, w] of WORKLOADS.entries()) {
    const before = instructions?.() ?? 0;
    const { seconds, end } = await timeCommand(con, w.command, at, 1000 * (i + 1));
    workloads.push(seconds);
    if (instructions) mips.push((instructions() - before) / seconds / 1e6);
    at = await con.waitFor(PROMPT, 60_000, end);
  }
  return { boot, workloads, ...(instructions ? { mips: { boot: bootInstructions / boot / 1e6, workloads: mips } } : {}) };
}

async function benchTabvm(bootargs: string): Promise<Figures> {
  const files = { ...resolveVmFiles({ image: 'default', mem: '256M' }, resolve(root, 'public/images')), bootargs };
  const vm = new NodeVm(files);
  const con = new NodeVmConsole(vm);
  try {
    return await measure(con, () => vm.instructions);
  } finally {
    await vm.terminate();
  }
}

function qemuAvailable(): boolean {
  try {
    execFileSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function benchQemu(bootargs: string): Promise<Figures> {
  const session = new ConsoleSession('qemu-system-riscv64', [
    '-machine', 'virt', '-m', '256M', '-smp', '1', '-nographic', '-no-reboot',
    '-bios', resolve(imageDir, manifest.files.bios.path),
    '-kernel', resolve(imageDir, manifest.files.kernel.path),
    '-initrd', resolve(imageDir, manifest.files.initrd.path),
    '-append', bootargs,
  ]);
  try {
    return await measure(session);
  } finally {
    session.kill();
  }
}

const manifestBootargs = resolveVmFiles({ image: 'default' }, resolve(root, 'public/images')).bootargs;
// The kernel's crypto self-tests run in the background after boot and would skew the workloads.
const bootargs = manifestBootargs.includes('cryptomgr.notests') ? manifestBootargs : `${manifestBootargs} cryptomgr.notests`;

console.log(`tabvm benchmark — ${new Date().toISOString().slice(0, 10)}, ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
console.log(`image: public/images/default, 256 MiB, bootargs "${bootargs}"\n`);
const tabvm = await benchTabvm(bootargs);
const qemu = qemuAvailable() ? await benchQemu(bootargs) : undefined;

const rows: [string, number, number | undefined, number | undefined][] = [
  ['boot to prompt', tabvm.boot, qemu?.boot, tabvm.mips?.boot],
  ...WORKLOADS.map((w, i): [string, number, number | undefined, number | undefined] => [w.name, tabvm.workloads[i]!, qemu?.workloads[i], tabvm.mips?.workloads[i]]),
];
console.log('| measure | tabvm (s) | QEMU TCG (s) | tabvm / QEMU | tabvm guest MIPS |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, ours, theirs, mips] of rows) {
  const ratio = theirs === undefined ? 'n/a' : `${(ours / theirs).toFixed(2)}×`;
  console.log(`| ${name} | ${ours.toFixed(2)} | ${theirs?.toFixed(2) ?? 'not installed'} | ${ratio} | ${mips?.toFixed(0) ?? ''} |`);
}
process.exit(0);
