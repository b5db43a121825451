// The memory model seen from inside the guest, on several harts (npm run vm -- --smp N, docs/harts.md
// "Memory model"): tests/guest/smptest.c, built into a test initramfs by scripts/build-test-initramfs.sh,
// run by Linux with threads spread over the harts.
//
// - Atomics stress: threads add to shared counters by amoadd.d, by an lr.d/sc.d loop and under a pthread
//   mutex; not one increment may be lost, with the JIT on (the default threshold) and off
//   (TABVM_JIT_THRESHOLD=0, scripts/smp/hart-thread.ts), on 2 and 4 harts.
// - Litmus tests on 2 harts (threads pinned to CPUs 0 and 1): no outcome RVWMO forbids may appear. The
//   outcomes it allows are counted and printed, not required: whether a host shows them is its business.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsoleSession } from '../scripts/lib/console-session.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PROMPT = 'root@tabvm:~# ';
/** Increments per counter, over all threads: × 3 counters = 3.6 million operations per run. */
const STRESS_OPERATIONS = 1_200_000;
const LITMUS_ITERATIONS = 200_000;

const dir = mkdtempSync(resolve(tmpdir(), 'tabvm-smp-stress-'));
const initrd = resolve(dir, 'initramfs.cpio.gz');

beforeAll(() => {
  execFileSync(resolve(root, 'scripts/build-test-initramfs.sh'), [initrd], { stdio: 'pipe' });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Jit = 'on' | 'off';

/** Boots the test initramfs on `harts` harts, with the JIT on (default threshold) or off. */
async function boot(harts: number, jit: Jit): Promise<ConsoleSession> {
  const env = jit === 'off' ? ['TABVM_JIT_THRESHOLD=0'] : [];
  const vm = new ConsoleSession(
    'env',
    [...env, process.execPath, '--import', 'tsx', 'scripts/vm.ts', '--smp', String(harts), '--initrd', initrd],
    { cwd: root },
  );
  await vm.waitFor(PROMPT, 500_000);
  return vm;
}

/** Types `command` and returns what it printed (up to a marker the shell computes, so the echo cannot match it). */
async function run(vm: ConsoleSession, command: string, timeoutMs: number): Promise<string> {
  const from = vm.output.length;
  vm.type(`${command}; echo END-$((20+22))\r`);
  const end = await vm.waitFor('END-42', timeoutMs, from);
  return vm.output.slice(from, end);
}

async function powerOff(vm: ConsoleSession): Promise<void> {
  vm.type('poweroff\r');
  await vm.waitFor('reboot: Power down', 60_000, vm.output.length);
  expect(await vm.exitCode(30_000)).toBe(0);
}

async function stress(vm: ConsoleSession, harts: number, jit: Jit): Promise<void> {
  const iterations = STRESS_OPERATIONS / harts;
  const out = await run(vm, `smptest stress ${harts} ${iterations}`, 1_200_000);
  const m = /stress expected=(\d+) amoadd=(\d+) lrsc=(\d+) mutex=(\d+) racy=(\d+) cpus=(\d+)/.exec(out);
  expect(m, out).not.toBeNull();
  console.log(`${harts} harts, JIT ${jit}: ${m![0]}`);
  const [expected, amoadd, lrsc, mutex, , cpus] = m!.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  expect(expected).toBe(harts * iterations);
  expect({ amoadd, lrsc, mutex }).toEqual({ amoadd: expected, lrsc: expected, mutex: expected });
  // The threads ran on more than one hart, so the counters were contended across hart threads. The
  // unlocked ld/addi/sd counter (racy) is only printed: how many it loses depends on the host's scheduling.
  expect(cpus).toBeGreaterThanOrEqual(2);
}

type Outcomes = Record<'00' | '01' | '10' | '11', number>;

function parseLitmus(out: string): Map<string, Outcomes> {
  const tests = new Map<string, Outcomes>();
  for (const m of out.matchAll(/^litmus (\S+) n=(\d+) 00=(\d+) 01=(\d+) 10=(\d+) 11=(\d+)/gm)) {
    const [n, a, b, c, d] = m.slice(2).map(Number) as [number, number, number, number, number];
    expect(a + b + c + d, m[0]).toBe(n);
    tests.set(m[1]!, { '00': a, '01': b, '10': c, '11': d });
  }
  return tests;
}

async function litmus(vm: ConsoleSession, jit: Jit): Promise<void> {
  const out = await run(vm, `smptest litmus ${LITMUS_ITERATIONS}`, 1_200_000);
  const tests = parseLitmus(out);
  expect([...tests.keys()].sort()).toEqual(['LB', 'LB+fences', 'MP', 'MP+fences', 'SB', 'SB+fences']);
  for (const [name, counts] of tests) console.log(`JIT ${jit}: litmus ${name} (r1,r2): ${JSON.stringify(counts)}`);
  // RVWMO (unprivileged spec, "RVWMO Memory Consistency Model"), preserved program order rule 4: "There
  // is a FENCE instruction that orders a before b", and the global memory order respects preserved
  // program order; a load returns the latest store before it in global memory order (Load Value Axiom).
  //
  // MP+fences — hart 0: sd x=1; fence w,w; sd y=1. Hart 1: r1 = ld y; fence r,r; r2 = ld x.
  // r1 = 1 puts sd y before ld y; both fences then order sd x before sd y before ld y before ld x, so ld x
  // must see 1: r1 = 1, r2 = 0 is forbidden.
  expect(tests.get('MP+fences')!['10']).toBe(0);
  // SB+fences — hart 0: sd x=1; fence rw,rw; r1 = ld y. Hart 1: sd y=1; fence rw,rw; r2 = ld x.
  // Whichever store comes first in global memory order precedes the other hart's load: at least one
  // load sees 1, so r1 = 0, r2 = 0 is forbidden.
  expect(tests.get('SB+fences')!['00']).toBe(0);
  // LB+fences — hart 0: r1 = ld x; fence r,w; sd y=1. Hart 1: r2 = ld y; fence r,w; sd x=1.
  // r1 = 1 needs hart 1's sd x before ld x, and r2 = 1 hart 0's sd y before ld y; with each load ordered
  // before its own hart's store, that is a cycle: r1 = 1, r2 = 1 is forbidden.
  expect(tests.get('LB+fences')!['11']).toBe(0);
  // Without the fences RVWMO allows every outcome of MP, SB and LB (it may reorder a store after a
  // store, a load after a store, a store after a load, and a load after a load to another address), so
  // there is nothing to assert about them beyond their counts adding up.
}

describe('the memory model in the guest', () => {
  it.each<[number, Jit]>([
    [2, 'on'],
    [2, 'off'],
  ])(
    '%i harts, JIT %s: no increment lost in the atomics stress, no litmus outcome RVWMO forbids',
    async (harts, jit) => {
      const vm = await boot(harts, jit);
      try {
        await stress(vm, harts, jit);
        await litmus(vm, jit);
        await powerOff(vm);
      } finally {
        vm.kill();
      }
    },
    2_400_000,
  );

  it.each<[number, Jit]>([
    [4, 'on'],
    [4, 'off'],
  ])(
    '%i harts, JIT %s: no increment lost in the atomics stress',
    async (harts, jit) => {
      const vm = await boot(harts, jit);
      try {
        await stress(vm, harts, jit);
        await powerOff(vm);
      } finally {
        vm.kill();
      }
    },
    2_400_000,
  );
});
