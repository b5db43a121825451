/**
 * The shared-folder copy measurement of docs/shared-folders.md: `time cp` of a 64 MiB file from the
 * share to the guest's /tmp (tmpfs) and back, under tabvm (`--share`) and QEMU (`-fsdev local` +
 * `virtio-9p-device`), interleaved, with the load before each run. Times are the guest's busybox `time`.
 *
 *   npx tsx scripts/measure-share-copy.ts [rounds]      (default 2; TABVM_ONLY=1 skips QEMU;
 *                                          TABVM_CPU_PROF=DIR writes tabvm's CPU profiles, one per thread, there)
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsoleSession } from './lib/console-session.ts';
import { QEMU_TABVM_CPU } from './lib/qemu.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const image = resolve(root, 'public/images/default');
const PROMPT = 'root@tabvm:~# ';
const SIZE = 64 << 20;
const rounds = Number(process.argv[2] ?? 2);

function qemu(dir: string): ConsoleSession {
  const { bootargs } = JSON.parse(fs.readFileSync(resolve(image, 'manifest.json'), 'utf8')) as { bootargs: string };
  return new ConsoleSession('qemu-system-riscv64', [
    ...['-M', 'virt', '-cpu', QEMU_TABVM_CPU, '-m', '256M', '-nographic'],
    ...['-bios', resolve(image, 'fw_dynamic.bin'), '-kernel', resolve(image, 'Image')],
    ...['-initrd', resolve(image, 'initramfs.cpio.gz'), '-append', bootargs],
    ...['-fsdev', `local,id=share0,path=${dir},security_model=none`],
    ...['-device', 'virtio-9p-device,fsdev=share0,mount_tag=shared'],
  ]);
}

/** `npm run vm`'s script, as tests/share.test.ts runs it (tabvmSession), profiled on request. */
function tabvm(dir: string): ConsoleSession {
  const profile = process.env.TABVM_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TABVM_CPU_PROF}`] : [];
  const args = [...profile, '--import', 'tsx', 'scripts/vm.ts', '--mem', '256M', '--share', dir];
  return new ConsoleSession(process.execPath, args, { cwd: root });
}

/** Seconds for the copy in, then the copy out, as the guest's `time` prints them. */
async function measure(start: (dir: string) => ConsoleSession): Promise<[number, number]> {
  const dir = fs.mkdtempSync(resolve(tmpdir(), 'tabvm-share-copy-'));
  const data = randomBytes(SIZE);
  fs.writeFileSync(resolve(dir, 'big'), data);
  const vm = start(dir);
  try {
    const at = await vm.waitFor(PROMPT, 300_000);
    vm.type('time cp /mnt/shared/big /tmp/big; time cp /tmp/big /mnt/shared/back; rm /tmp/big; echo DONE-$((40+2))\n');
    const end = await vm.waitFor('DONE-42', 300_000, at);
    const times = [...vm.output.slice(at, end).matchAll(/real\s+(\d+)m\s*([\d.]+)s/g)].map(
      (m) => Number(m[1]) * 60 + Number(m[2]),
    );
    if (times.length !== 2) throw new Error(`expected two times, got: ${vm.output.slice(at, end)}`);
    if (!data.equals(fs.readFileSync(resolve(dir, 'back')))) throw new Error('the copy back differs');
    // A clean end, so that a profiled runner writes its profiles.
    vm.type('poweroff\n');
    await vm.exitCode(60_000);
    return [times[0]!, times[1]!];
  } finally {
    vm.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const machines: [string, (dir: string) => ConsoleSession][] = [
  ['tabvm', tabvm],
  ...(process.env.TABVM_ONLY ? [] : ([['qemu', qemu]] as [string, (dir: string) => ConsoleSession][])),
];
for (let round = 1; round <= rounds; round++) {
  for (const [name, start] of machines) {
    const load = loadavg()[0]!.toFixed(2);
    const [into, out] = await measure(start);
    const rate = (s: number) => `${(SIZE / 2 ** 20 / s).toFixed(0)} MiB/s`;
    console.log(
      `round ${round} ${name}: share→guest ${into.toFixed(2)} s (${rate(into)}), guest→share ${out.toFixed(2)} s (${rate(out)}), load ${load}`,
    );
  }
}
