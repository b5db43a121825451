/**
 * `npm run bench [-- --runs N --browser --port P --images default,debian]`: boots the default image and runs fixed
 * workloads at its prompt (a shell loop, sha256, gzip of 16 MiB), then the Debian image with real programs
 * (a Python loop, gcc compiling a small C file), under tabvm in Node, under QEMU with the same files in the
 * same run, and with `--browser` under tabvm in Chromium: the built app's embed page (`npx vite build`
 * first), whose VM is the app's own worker and controller, cross-origin isolated by `vite preview`.
 * Prints seconds to the prompt, each workload's host wall time and CPU time on each, tabvm's guest MIPS in Node,
 * and every figure as a ratio to QEMU's. Every workload's output is checked: a broken guest fails the run.
 * A benchmark, not a test: it asserts nothing about speed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from '@playwright/test';
import { benchCommand, hostLine, median } from './lib/bench-common.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';
import { cpuSeconds, descendantsCpuSeconds } from './lib/cpu-time.ts';
import { repoRoot } from './lib/in-process.ts';
import { resolveVmFiles, type VmFiles } from './lib/vm-options.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';
import { DEBIAN_PROMPT, qemuDebianSession, readDebianManifest, runAtPrompt } from './lib/debian-scenario.ts';
import { BENCH_PACKAGES, cachedBenchDisk, copyBenchDisk, expectOutput } from './lib/bench-debian-disk.ts';
import { debianWorkloads, defaultImageWorkloads, type Workload } from './lib/bench-workloads.ts';
import { openPreview } from './lib/chromium-bench.ts';

const options = benchCommand('npm run bench --')
  .option('--browser', 'also run the workloads in Chromium (the built app: `npx vite build` first)')
  .option('--port <p>', 'port for vite preview with --browser', (v) => Number.parseInt(v, 10), 4362)
  .option('--images <names>', 'which images’ workloads, comma-separated: default, debian', 'default,debian')
  .parse()
  .opts<{ runs: number; browser?: boolean; port: number; images: string }>();
const images = new Set(options.images.split(','));
for (const image of images) {
  if (image !== 'default' && image !== 'debian')
    throw new Error(`--images: no workloads for "${image}" (default, debian)`);
}
const runs = options.runs;
const imagesDir = resolve(repoRoot, 'public/images');
const DEFAULT_PROMPT = 'root@tabvm:~# ';
const BOOT_TIMEOUT_MS = 900_000;
const WORKLOAD_TIMEOUT_MS = 900_000;

/** A phase's cost: host wall seconds and, where known, the emulator's CPU seconds (all its threads). */
interface Cost {
  wall: number;
  cpu?: number;
}

/** One machine's figures for an image: boot, each workload, and guest MIPS per workload (tabvm in Node). */
interface Figures {
  boot: Cost;
  workloads: Cost[];
  mips?: number[];
}

/** A booted guest's shell: runs a command and returns its output lines and what the command cost. */
interface Shell {
  run(command: string, timeoutMs: number): Promise<{ lines: string[]; cost: Cost; instructions?: number }>;
}

/** A serial console's shell (tabvm in Node, QEMU): the command ends at a marker the shell computes. */
class ConsoleShell implements Shell {
  constructor(
    private readonly con: TextConsole,
    private readonly prompt: string,
    private at: number,
    private readonly cpu: () => number,
    private readonly instructions?: () => number,
  ) {}

  async run(command: string, timeoutMs: number): Promise<{ lines: string[]; cost: Cost; instructions?: number }> {
    const wall0 = performance.now();
    const cpu0 = this.cpu();
    const instructions0 = this.instructions?.() ?? 0;
    const result = await runAtPrompt(this.con, command, this.at, timeoutMs, this.prompt);
    const cost = { wall: (performance.now() - wall0) / 1000, cpu: this.cpu() - cpu0 };
    this.at = result.at;
    return {
      lines: result.lines,
      cost,
      ...(this.instructions ? { instructions: this.instructions() - instructions0 } : {}),
    };
  }
}

/** Chromium's CPU seconds so far: the browser Playwright launched and all its processes (the page, the VM's workers, GPU). */
const chromiumCpu = (): number => descendantsCpuSeconds('chromium');

/** The embed page's `<tabvm-terminal>`: run() in the page, its wall time taken there. */
class BrowserShell implements Shell {
  constructor(private readonly page: Page) {}

  async run(command: string, timeoutMs: number): Promise<{ lines: string[]; cost: Cost }> {
    const cpu0 = chromiumCpu();
    const result = await this.page.evaluate(
      async ({ command, timeout }) => {
        const terminal = document.querySelector('tabvm-terminal') as unknown as {
          run(command: string, options: { timeout: number }): Promise<{ output: string; exitCode: number }>;
        };
        const started = performance.now();
        const { output, exitCode } = await terminal.run(command, { timeout });
        return { output, exitCode, ms: performance.now() - started };
      },
      { command, timeout: timeoutMs },
    );
    const lines = result.output
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    if (result.exitCode !== 0)
      throw new Error(`${command}: exit status ${result.exitCode} in Chromium:\n${result.output}`);
    return { lines, cost: { wall: result.ms / 1000, cpu: chromiumCpu() - cpu0 } };
  }
}

/** Runs each workload (setup, the timed command, verify) and fails when the output is not right. */
async function measure(machine: string, boot: Cost, shell: Shell, workloads: readonly Workload[]): Promise<Figures> {
  const costs: Cost[] = [];
  const mips: number[] = [];
  for (const workload of workloads) {
    const lines: string[] = [];
    if (workload.setup) lines.push(...(await shell.run(workload.setup, WORKLOAD_TIMEOUT_MS)).lines);
    const timed = await shell.run(workload.command, WORKLOAD_TIMEOUT_MS);
    lines.push(...timed.lines);
    if (workload.verify) lines.push(...(await shell.run(workload.verify, WORKLOAD_TIMEOUT_MS)).lines);
    expectOutput(`${workload.name} under ${machine}`, lines, workload.expect);
    costs.push(timed.cost);
    console.error(`  ${machine}: ${workload.name}: ${timed.cost.wall.toFixed(2)} s`);
    if (timed.instructions !== undefined && timed.cost.cpu) mips.push(timed.instructions / timed.cost.cpu / 1e6);
  }
  return { boot, workloads: costs, ...(mips.length > 0 ? { mips } : {}) };
}

/** Boots `files` in a Node worker (as `npm run vm` does) and measures the workloads at `prompt`. */
async function benchNode(files: VmFiles, prompt: string, workloads: readonly Workload[]): Promise<Figures> {
  const vm = new NodeVm(files);
  const con = new NodeVmConsole(vm);
  try {
    const wall0 = performance.now();
    const cpu0 = cpuSeconds();
    const at = await con.waitFor(prompt, BOOT_TIMEOUT_MS);
    const boot = { wall: (performance.now() - wall0) / 1000, cpu: cpuSeconds() - cpu0 };
    return await measure(
      'tabvm in Node',
      boot,
      new ConsoleShell(con, prompt, at, cpuSeconds, () => vm.instructions),
      workloads,
    );
  } finally {
    await vm.terminate();
  }
}

async function benchQemu(session: ConsoleSession, prompt: string, workloads: readonly Workload[]): Promise<Figures> {
  try {
    const wall0 = performance.now();
    const at = await session.waitFor(prompt, BOOT_TIMEOUT_MS);
    const cpu = (): number => cpuSeconds(session.pid);
    const boot = { wall: (performance.now() - wall0) / 1000, cpu: cpu() };
    return await measure('QEMU', boot, new ConsoleShell(session, prompt, at, cpu), workloads);
  } finally {
    session.kill();
  }
}

/**
 * A fresh browser profile opens the embed page for `image` (a manifest path under the site), and start()
 * is timed from the page: image download from the local server, then the boot or, for an image with a
 * pre-booted snapshot, its restore.
 */
async function benchBrowser(
  browser: Browser,
  url: string,
  image: string,
  workloads: readonly Workload[],
): Promise<Figures> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    await page.goto(`${url}embed.html?image=${encodeURIComponent(image)}&memory=256`);
    const cpu0 = chromiumCpu();
    const startMs = await page.evaluate(async (timeout) => {
      const terminal = document.querySelector('tabvm-terminal') as unknown as {
        start(options: { timeout: number }): Promise<void>;
        mode: string;
      };
      if (terminal.mode !== 'shared') throw new Error(`the embed page runs in the ${terminal.mode} mode, not shared`);
      const started = performance.now();
      await terminal.start({ timeout });
      return performance.now() - started;
    }, BOOT_TIMEOUT_MS);
    const boot = { wall: startMs / 1000, cpu: chromiumCpu() - cpu0 };
    return await measure('tabvm in Chromium', boot, new BrowserShell(page), workloads);
  } finally {
    await context.close();
  }
}

function qemuDefaultSession(files: VmFiles): ConsoleSession {
  if (!files.kernel || !files.initrd)
    throw new Error('public/images/default/manifest.json names no kernel or no initrd');
  const dir = resolve(imagesDir, 'default');
  const manifest = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8')) as {
    files: Record<'bios' | 'kernel' | 'initrd', { path: string }>;
  };
  return new ConsoleSession('qemu-system-riscv64', [
    ...['-machine', 'virt', '-m', `${files.ramSize / 2 ** 20}M`, '-smp', '1', '-nographic', '-no-reboot'],
    ...['-cpu', QEMU_TABVM_CPU, '-append', files.bootargs],
    ...['-bios', resolve(dir, manifest.files.bios.path), '-kernel', resolve(dir, manifest.files.kernel.path)],
    ...['-initrd', resolve(dir, manifest.files.initrd.path)],
  ]);
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
console.log(hostLine('tabvm benchmark'));
console.log(`load average at the start: ${load()}`);
const haveQemu = qemuAvailable();
const preview = options.browser ? await openPreview(options.port) : undefined;
const tmp = mkdtempSync(join(tmpdir(), 'tabvm-bench-'));

interface Suite {
  readonly title: string;
  readonly workloads: readonly Workload[];
  readonly node: Figures[];
  readonly qemu: Figures[];
  readonly browser: Figures[];
  /** How the browser's VM starts: the embed page boots the image, or restores its pre-booted snapshot. */
  readonly browserStart: 'boot' | 'snapshot';
}
const suites: Suite[] = [];
try {
  const defaultFiles = resolveVmFiles({ image: 'default', mem: '256M' }, imagesDir);
  const defaultSuite: Suite | undefined = images.has('default')
    ? {
        title: `default image (busybox), 256 MiB, bootargs "${defaultFiles.bootargs}"`,
        workloads: defaultImageWorkloads(),
        node: [],
        qemu: [],
        browser: [],
        browserStart: 'boot',
      }
    : undefined;
  if (defaultSuite) suites.push(defaultSuite);
  const debianManifest = images.has('debian') ? readDebianManifest(repoRoot) : undefined;
  const debianSuite: Suite | undefined = debianManifest && {
    title: `Debian image, ${debianManifest.memory.default} MiB, with ${BENCH_PACKAGES.join(' and ')} installed from its mirror`,
    workloads: debianWorkloads(),
    node: [],
    qemu: [],
    browser: [],
    browserStart: 'snapshot',
  };
  if (debianSuite) suites.push(debianSuite);

  let prepared: string | undefined;
  if (debianManifest) {
    if (!haveQemu)
      throw new Error('the Debian workloads need qemu-system-riscv64 to install gcc (or pass --images default)');
    const disk = await cachedBenchDisk(repoRoot, debianManifest);
    prepared = disk.path;
    console.log(
      disk.installSeconds === undefined
        ? `Debian disk with ${BENCH_PACKAGES.join(', ')}: ${prepared} (prepared by an earlier run)`
        : `Debian disk prepared: ${BENCH_PACKAGES.join(', ')} installed under QEMU in ${disk.installSeconds.toFixed(0)} s, kept as ${prepared}`,
    );
  }
  console.log(
    `${runs} rounds alternating tabvm in Node, QEMU${preview ? ' and tabvm in Chromium' : ''}; each figure is the median\n`,
  );
  for (let round = 0; round < runs; round++) {
    if (defaultSuite) {
      defaultSuite.node.push(await benchNode(defaultFiles, DEFAULT_PROMPT, defaultSuite.workloads));
      if (haveQemu)
        defaultSuite.qemu.push(
          await benchQemu(qemuDefaultSession(defaultFiles), DEFAULT_PROMPT, defaultSuite.workloads),
        );
      if (preview) {
        defaultSuite.browser.push(
          await benchBrowser(preview.browser, preview.url, 'images/default/manifest.json', defaultSuite.workloads),
        );
      }
    }
    if (debianSuite && debianManifest && prepared) {
      const files: VmFiles = {
        ...resolveVmFiles({ image: 'debian' }, imagesDir),
        disks: [{ path: copyBenchDisk(prepared, join(tmp, 'node.img')), readOnly: false }],
      };
      debianSuite.node.push(await benchNode(files, DEBIAN_PROMPT, debianSuite.workloads));
      const disk = copyBenchDisk(prepared, join(tmp, 'qemu.img'));
      debianSuite.qemu.push(
        await benchQemu(qemuDebianSession(repoRoot, debianManifest, disk), DEBIAN_PROMPT, debianSuite.workloads),
      );
      if (preview) {
        const inBrowser = debianSuite.workloads.filter((w) => w.inBrowser);
        const figures = await benchBrowser(preview.browser, preview.url, 'images/debian/manifest.json', inBrowser);
        // Back in the suite's order, with no figure for what the browser does not run.
        const costs = [...figures.workloads];
        debianSuite.browser.push({
          boot: figures.boot,
          workloads: debianSuite.workloads.map((w) => (w.inBrowser ? costs.shift()! : { wall: Number.NaN })),
        });
      }
    }
    console.log(
      `round ${round + 1}: ${JSON.stringify(
        suites.map((s) => ({ node: s.node.at(-1), qemu: s.qemu.at(-1), browser: s.browser.at(-1) })),
        (_key, value: unknown) => (typeof value === 'number' ? Number(value.toFixed(2)) : value),
      )}`,
    );
  }
} finally {
  await preview?.close();
  rmSync(tmp, { recursive: true, force: true });
}

/** The median of what the rounds measured; NaN where a machine did not run a workload. */
const medianOf = (xs: (number | undefined)[]): number | undefined => {
  const known = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
  return known.length === 0 ? undefined : median(known);
};
const fixed = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(2));
const ratio = (ours: number | undefined, theirs: number | undefined): string =>
  ours === undefined || theirs === undefined ? '—' : `${(ours / theirs).toFixed(2)}×`;

console.log(`\nload average at the end: ${load()}`);
console.log(
  'Wall: host seconds, typed command to the next prompt (boot: machine start to the first prompt; Chromium: start()\n' +
    'in the embed page, image download from localhost included). CPU: seconds of CPU the emulator used, which other\n' +
    'load does not inflate: Node, the whole benchmark process (all threads); Chromium, all its processes (page,\n' +
    'VM workers, GPU); QEMU, its process. Ratios are to QEMU.\n',
);
for (const suite of suites) {
  console.log(`${suite.title}\n`);
  console.log(
    '| measure | Node wall (s) | Chromium wall (s) | QEMU wall (s) | Node ÷ QEMU | Chromium ÷ QEMU | ' +
      'Node CPU (s) | Chromium CPU (s) | QEMU CPU (s) | Node ÷ QEMU CPU | Chromium ÷ QEMU CPU | Node guest MIPS |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const rows: { name: string; pick: (f: Figures) => Cost | undefined; browser: boolean; mips?: number }[] = [
    { name: 'boot to prompt', pick: (f) => f.boot, browser: suite.browserStart === 'boot' },
    ...suite.workloads.map((w, i) => ({
      name: w.name,
      pick: (f: Figures) => f.workloads[i],
      browser: true,
      mips: medianOf(suite.node.map((f) => f.mips?.[i])),
    })),
  ];
  const median2 = (rounds: Figures[], pick: (f: Figures) => Cost | undefined) => ({
    wall: medianOf(rounds.map((f) => pick(f)?.wall)),
    cpu: medianOf(rounds.map((f) => pick(f)?.cpu)),
  });
  for (const row of rows) {
    const node = median2(suite.node, row.pick);
    const qemu = median2(suite.qemu, row.pick);
    const browser = row.browser ? median2(suite.browser, row.pick) : { wall: undefined, cpu: undefined };
    console.log(
      `| ${row.name} | ${fixed(node.wall)} | ${fixed(browser.wall)} | ${fixed(qemu.wall)} | ${ratio(node.wall, qemu.wall)} | ` +
        `${ratio(browser.wall, qemu.wall)} | ${fixed(node.cpu)} | ${fixed(browser.cpu)} | ${fixed(qemu.cpu)} | ` +
        `${ratio(node.cpu, qemu.cpu)} | ${ratio(browser.cpu, qemu.cpu)} | ${row.mips?.toFixed(0) ?? ''} |`,
    );
  }
  if (suite.browserStart === 'snapshot' && suite.browser.length > 0) {
    const start = median2(suite.browser, (f) => f.boot);
    console.log(
      `| Start → prompt from the pre-booted snapshot | | ${fixed(start.wall)} | | | | | ${fixed(start.cpu)} | | | | |`,
    );
  }
  console.log('');
}
process.exit(0);
