/**
 * `npm run bench:smp`: what several harts give and cost (issue 16, docs/harts.md), each figure against
 * the same machine with one hart in the same run, and QEMU's `-smp` beside it:
 * - a parallel workload, two `sha256sum` of 8 MiB at once, on 2 harts against 1 (the speed-up);
 * - a one-thread workload, the shell loop, with 2 harts against 1 (what SMP costs it);
 * - boot to the prompt with 4 harts against 1.
 * Every configuration boots a VM of its own; rounds alternate the configurations and the emulators, and
 * each figure is the median wall time of the rounds. A benchmark, not a test: it asserts nothing.
 *
 * `--browser` runs tabvm in Chromium (/usr/bin/chromium, through Playwright) as a person does: a VM made in
 * the New VM dialog with 1, 2 or 4 CPUs (256 MiB), Start, then each workload typed into its console, timed
 * from Enter until its end marker shows; the app's own workers run it (the VM's worker, a nested Worker per
 * hart). The image's own bootargs are used there (the page adds none). Serves dist/ with `vite preview`
 * (run `npx vite build` first) on `--port` (and QEMU is not run).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { loadavg } from 'node:os';
import { Command } from 'commander';
import { chromium, type Browser, type Page } from '@playwright/test';
import { hostLine, median } from './lib/bench-common.ts';
import { consoleOf, startVm } from '../e2e/helpers.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';
import { resolveVmFiles } from './lib/vm-options.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';
import { CHROMIUM_LAUNCH } from './lib/chromium.ts';

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

/** The workloads as the browser's console sees them: each typed, then timed from Enter to its marker. */
async function measureInBrowser(page: Page, name: string, workloads: boolean): Promise<Figures> {
  const rows = consoleOf(page, name).locator('.xterm-rows');
  const start = performance.now();
  await startVm(page, name);
  // busybox ash's greeting, then the prompt.
  await rows.filter({ hasText: /built-in commands[\s\S]*# / }).waitFor({ timeout: 900_000 });
  const boot = (performance.now() - start) / 1000;
  const times: number[] = [];
  if (workloads) {
    for (const [i, w] of WORKLOADS.entries()) {
      const marker = 1000 * (i + 1);
      await consoleOf(page, name).click();
      await page.keyboard.type(`${w.command}; echo BENCH-$((${marker}+1))-END`);
      const t0 = performance.now();
      await page.keyboard.press('Enter');
      await rows.filter({ hasText: `BENCH-${marker + 1}-END` }).waitFor({ timeout: 900_000 });
      times.push((performance.now() - t0) / 1000);
    }
  }
  return { boot, workloads: times };
}

let browserVms = 0;

/** A VM of the default image with `harts` CPUs, made in the New VM dialog of a fresh page, and measured there. */
async function inChromium(browser: Browser, url: string, harts: number, workloads: boolean): Promise<Figures> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    await page.goto(url);
    const name = `bench${++browserVms}`;
    await page.getByRole('button', { name: 'New VM' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New virtual machine' });
    await dialog.getByLabel('Name').fill(name);
    // The image's manifest sets the default RAM when it arrives (Create is enabled from then on): type after it.
    const create = dialog.getByRole('button', { name: 'Create' });
    while (!(await create.isEnabled())) await new Promise((r) => setTimeout(r, 100));
    await dialog.getByLabel('Memory (MiB)').fill('256');
    await dialog.getByLabel('CPUs').fill(String(harts));
    await create.click();
    await dialog.waitFor({ state: 'hidden' });
    return await measureInBrowser(page, name, workloads);
  } finally {
    await context.close();
  }
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
    ...[
      '-kernel',
      resolve(imageDir, manifest.files.kernel.path),
      '-initrd',
      resolve(imageDir, manifest.files.initrd.path),
    ],
    ...['-append', bootargs],
  ]);
  try {
    return await measure(session, workloads);
  } finally {
    session.kill();
  }
}

const options = new Command()
  .name('npm run bench:smp --')
  .option('--runs <n>', 'rounds; each figure is the median', (v) => Number.parseInt(v, 10), 3)
  .option('--browser', 'tabvm in Chromium (the app, through Playwright) instead of Node and QEMU')
  .option('--port <p>', 'port for vite preview (--browser)', (v) => Number.parseInt(v, 10), 4722)
  .parse()
  .opts<{ runs: number; browser?: boolean; port: number }>();
const runs = options.runs;
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number ≥ 1');

const manifestBootargs = resolveVmFiles({ image: 'default' }, resolve(root, 'public/images')).bootargs;
// The kernel's crypto self-tests run in the background after boot and would skew the workloads.
const bootargs = manifestBootargs.includes('cryptomgr.notests')
  ? manifestBootargs
  : `${manifestBootargs} cryptomgr.notests`;

type Emulator = (bootargs: string, harts: number, workloads: boolean) => Promise<Figures>;
const emulators: [string, Emulator][] = [];
let stopBrowser = async (): Promise<void> => {};
if (options.browser) {
  // vite itself, not through npx: killing npx would leave its vite child serving the port.
  const vite = resolve(root, 'node_modules/vite/bin/vite.js');
  const server = spawn(process.execPath, [vite, 'preview', '--port', String(options.port), '--strictPort'], {
    cwd: root,
    stdio: 'ignore',
  });
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  stopBrowser = async () => {
    await browser.close();
    server.kill();
  };
  const url = `http://localhost:${options.port}/`;
  for (let tries = 0; ; tries++) {
    try {
      await fetch(url);
      break;
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  emulators.push(['tabvm in Chromium', (_bootargs, harts, workloads) => inChromium(browser, url, harts, workloads)]);
  console.log(hostLine('tabvm SMP benchmark in Chromium'));
  console.log(`image: default (the app's VM, 256 MiB, the manifest's bootargs "${manifestBootargs}")`);
} else {
  emulators.push(['tabvm', tabvm]);
  if (qemuAvailable()) emulators.push(['QEMU', qemu]);
  console.log(hostLine('tabvm SMP benchmark'));
  console.log(`image: public/images/default, 256 MiB, bootargs "${bootargs}"; QEMU (TCG) with tabvm's ISA`);
}
console.log(`${runs} rounds, each booting 1, 2 and 4 harts in turn; each figure is the median wall time`);
const load = [loadavg()[0]!];

const results = new Map<string, Figures[]>();
try {
  for (let round = 0; round < runs; round++) {
    for (const [name, run] of emulators) {
      for (const harts of [1, 2, 4]) {
        const key = `${name}/${harts}`;
        const figures = await run(bootargs, harts, harts <= 2);
        results.set(key, [...(results.get(key) ?? []), figures]);
        load.push(loadavg()[0]!);
        const workloadTimes = figures.workloads.map((t) => `${t.toFixed(2)} s`).join(', ') || 'none';
        console.log(
          `round ${round + 1}, ${key}: boot ${figures.boot.toFixed(2)} s, workloads ${workloadTimes}; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
    }
  }
} finally {
  await stopBrowser();
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
