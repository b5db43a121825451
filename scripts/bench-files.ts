/**
 * `npm run bench:files`: the shared folder's speed (issue 14), tabvm's Node `--share` against QEMU's
 * `-fsdev local,security_model=none` + `virtio-9p-device`, same default image, same run, rounds
 * interleaved. In the guest: `time cp` of a 64 MiB file from the share to /tmp (tmpfs) and back, then
 * `time ls -lR` and `time find` over 5000 small files in the share. Times are the guest's busybox
 * `time`; the copy back is checked byte for byte, and the count of small files the guest sees.
 * A benchmark, not a test: it asserts nothing about speed.
 *
 *   npm run bench:files -- [--runs N]      (TABVM_ONLY=1 leaves QEMU out;
 *                                          TABVM_CPU_PROF=DIR writes tabvm's CPU profiles, one per thread, there)
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchRuns, hostLine, median } from './lib/bench-common.ts';
import { ConsoleSession } from './lib/console-session.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const image = resolve(root, 'public/images/default');
const PROMPT = 'root@tabvm:~# ';
const BIG_BYTES = 64 << 20;
const SMALL_DIRS = 50;
const SMALL_PER_DIR = 100;
const SMALL_FILES = SMALL_DIRS * SMALL_PER_DIR;

const MEASURES = ['cp share → guest (64 MiB)', 'cp guest → share (64 MiB)', 'ls -lR (5000 files)', 'find (5000 files)'];

function qemu(dir: string): ConsoleSession {
  const { bootargs } = JSON.parse(fs.readFileSync(resolve(image, 'manifest.json'), 'utf8')) as { bootargs: string };
  return new ConsoleSession('qemu-system-riscv64', [
    ...['-M', 'virt', '-cpu', QEMU_TABVM_CPU, '-m', '256M', '-smp', '1', '-nographic'],
    ...['-bios', resolve(image, 'fw_dynamic.bin'), '-kernel', resolve(image, 'Image')],
    ...['-initrd', resolve(image, 'initramfs.cpio.gz'), '-append', bootargs],
    ...['-fsdev', `local,id=share0,path=${dir},security_model=none`],
    ...['-device', 'virtio-9p-device,fsdev=share0,mount_tag=shared'],
  ]);
}

/** `npm run vm`'s script with `--share`, as a user runs it. */
function tabvm(dir: string): ConsoleSession {
  const profile = process.env.TABVM_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TABVM_CPU_PROF}`] : [];
  const args = [...profile, '--import', 'tsx', 'scripts/vm.ts', '--mem', '256M', '--share', dir];
  return new ConsoleSession(process.execPath, args, { cwd: root });
}

/** A fresh share: `big` (random bytes) and `many/dNN/fNNN` (small text files). */
function makeShare(): { dir: string; big: Buffer } {
  const dir = fs.mkdtempSync(resolve(tmpdir(), 'tabvm-bench-files-'));
  const big = randomBytes(BIG_BYTES);
  fs.writeFileSync(resolve(dir, 'big'), big);
  for (let d = 0; d < SMALL_DIRS; d++) {
    const sub = resolve(dir, 'many', `d${String(d).padStart(2, '0')}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < SMALL_PER_DIR; f++)
      fs.writeFileSync(resolve(sub, `f${String(f).padStart(3, '0')}`), `${d}/${f}\n`);
  }
  return { dir, big };
}

/** Seconds for each of MEASURES, as the guest's `time` prints them. */
async function measure(start: (dir: string) => ConsoleSession): Promise<number[]> {
  const { dir, big } = makeShare();
  const vm = start(dir);
  try {
    const at = await vm.waitFor(PROMPT, 600_000);
    vm.type(
      'time cp /mnt/shared/big /tmp/big; time cp /tmp/big /mnt/shared/back; rm /tmp/big; ' +
        'time ls -lR /mnt/shared/many >/dev/null; time find /mnt/shared/many >/dev/null; ' +
        'echo FILES=$(find /mnt/shared/many -type f | wc -l); echo DONE-$((40+2))\n',
    );
    const end = await vm.waitFor('DONE-42', 600_000, at);
    const output = vm.output.slice(at, end);
    const times = [...output.matchAll(/real\s+(\d+)m\s*([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    if (times.length !== MEASURES.length) throw new Error(`expected ${MEASURES.length} times, got: ${output}`);
    if (!big.equals(fs.readFileSync(resolve(dir, 'back')))) throw new Error('the copy back differs');
    const seen = /FILES=(\d+)/.exec(output)?.[1];
    if (Number(seen) !== SMALL_FILES) throw new Error(`the guest saw ${seen} small files, not ${SMALL_FILES}`);
    // A clean end, so that a profiled runner writes its profiles.
    vm.type('poweroff\n');
    await vm.exitCode(60_000);
    return times;
  } finally {
    vm.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const runs = benchRuns('npm run bench:files --');
const withQemu = !process.env.TABVM_ONLY && qemuAvailable();
const machines: [string, (dir: string) => ConsoleSession][] = [
  ['tabvm', tabvm],
  ...(withQemu ? [['QEMU', qemu] as [string, (dir: string) => ConsoleSession]] : []),
];

console.log(hostLine('tabvm shared-folder benchmark'));
console.log(
  `image: public/images/default, 256 MiB, 1 CPU; tabvm \`npm run vm -- --share DIR\`${withQemu ? ' against QEMU -fsdev local,security_model=none + virtio-9p-device' : ' (QEMU left out)'}`,
);
console.log(`${runs} rounds alternating the machines; each figure is the median of the guest's \`time\`\n`);

const results = new Map<string, number[][]>(machines.map(([name]) => [name, []]));
const loads: number[] = [];
for (let round = 1; round <= runs; round++) {
  for (const [name, start] of machines) {
    const load = loadavg()[0]!;
    loads.push(load);
    const times = await measure(start);
    results.get(name)!.push(times);
    console.log(
      `round ${round} ${name} (load ${load.toFixed(2)}): ${times.map((t) => `${t.toFixed(2)} s`).join(', ')}`,
    );
  }
}

const medians = (name: string) => MEASURES.map((_, i) => median(results.get(name)!.map((times) => times[i]!)));
const ours = medians('tabvm');
const theirs = withQemu ? medians('QEMU') : undefined;
const rate = (i: number, seconds: number) => (i < 2 ? ` (${(BIG_BYTES / 2 ** 20 / seconds).toFixed(0)} MiB/s)` : '');
console.log(
  `\nload (1-minute average before each run): ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}\n`,
);
console.log("| measure | tabvm (s) | QEMU (s) | tabvm throughput / QEMU's |");
console.log('|---|---:|---:|---:|');
for (const [i, name] of MEASURES.entries()) {
  const q = theirs?.[i];
  console.log(
    `| ${name} | ${ours[i]!.toFixed(2)}${rate(i, ours[i]!)} | ${q === undefined ? 'n/a' : `${q.toFixed(2)}${rate(i, q)}`} | ${q === undefined ? 'n/a' : `${(q / ours[i]!).toFixed(2)}×`} |`,
  );
}
process.exit(0);
