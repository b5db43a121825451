// Runs every bare-metal guest program in tests/baremetal/bin on the whole machine (CPU, bus, CLINT, PLIC,
// UART) as `npm run vm -- --bios X.elf` does, and expects each to report a pass through its tohost word.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { Machine } from '../workers/machine/machine.ts';
import { ConsoleSession, tabvmSession } from '../scripts/lib/console-session.ts';
import { makeElf } from '../workers/machine/elf-fixture.ts';
import { coreModule as loadCore } from '../scripts/lib/in-process.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const bin = resolve(root, 'tests/baremetal/bin');
const programs = readdirSync(bin)
  .filter((f) => f.endsWith('.elf'))
  .sort();
/** Multi-hart programs (tests/baremetal/smp-*.S), run with two harts. */
const smpPrograms = readdirSync(resolve(bin, 'smp'))
  .filter((f) => f.endsWith('.elf'))
  .sort();
const coreModule = loadCore();

interface Outcome {
  readonly exitCode: number;
  readonly reason: 'poweroff' | 'tohost';
  readonly console: string;
}

function runToHalt(machine: Machine, what: string, output: () => string): Outcome {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const status = machine.runSlice();
    if (status.kind === 'halted') return { exitCode: status.exitCode, reason: status.reason, console: output() };
  }
  throw new Error(`${what} did not finish in 20 s; console: ${output()}`);
}

function bareMetalMachine(elf: Uint8Array): { machine: Machine; output: () => string } {
  let console = '';
  const machine = new Machine(
    { ramSize: 64 << 20, bios: elf, bootargs: '', sharedMemory: true, coreModule },
    { console: { write: (b) => (console += String.fromCharCode(b)) } },
  );
  return { machine, output: () => console };
}

function runBareMetal(file: string): Outcome {
  const { machine, output } = bareMetalMachine(readFileSync(resolve(bin, file)));
  return runToHalt(machine, file, output);
}

/** Code at 0x8000_0000 followed by an 8-byte tohost word at 0x8000_1000. */
function tohostElf(code: readonly number[]): Uint8Array {
  return makeElf({
    entry: 0x8000_0000n,
    segments: [
      {
        vaddr: 0x8000_0000n,
        paddr: 0x8000_0000n,
        data: code.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24]),
        memsz: code.length * 4,
        flags: 5,
      },
      { vaddr: 0x8000_1000n, paddr: 0x8000_1000n, data: new Array<number>(8).fill(0), memsz: 8, flags: 6 },
    ],
    symbols: [{ name: 'tohost', value: 0x8000_1000n, size: 8n, bind: 1 }],
  });
}

describe('bare-metal guest programs', () => {
  it('exist', () => {
    expect(programs.length).toBeGreaterThanOrEqual(5);
  });

  it.each(programs)('%s passes', (file) => {
    const { exitCode, reason, console } = runBareMetal(file);
    expect(exitCode, `console output: ${console}`).toBe(0);
    // Each reports through tohost first and only then powers off (for QEMU): stopping at the poweroff
    // would mean that the store to tohost went unnoticed.
    expect(reason).toBe('tohost');
  });

  it('has a tohost-<kind> program for each kind of store', () => {
    const kinds = programs.filter((f) => f.startsWith('tohost-')).map((f) => f.slice('tohost-'.length, -'.elf'.length));
    expect(kinds).toEqual(
      expect.arrayContaining([
        'sd',
        'sw',
        'sh',
        'sb',
        'fsd',
        'fsw',
        'c.sd',
        'c.sw',
        'c.sdsp',
        'c.swsp',
        'c.fsd',
        'c.fsdsp',
        'amoswap.d',
        'amoswap.w',
        'amoadd.d',
        'amoadd.w',
        'sc.d',
        'sc.w',
        'loop',
      ]),
    );
  });

  it('a tohost word that changes without a store the core saw ends the run when the slice ends', () => {
    // j . — then the word is written from outside the hart, as a device's DMA (or a store by any path
    // the core does not watch) would.
    const { machine, output } = bareMetalMachine(tohostElf([0x0000_006f]));
    expect(machine.runSlice().kind).toBe('running');
    new DataView(machine.ram.buffer, machine.ram.byteOffset + 0x1000, 8).setBigUint64(0, (9n << 1n) | 1n, true);
    expect(runToHalt(machine, 'j .', output)).toMatchObject({ exitCode: 9, reason: 'tohost' });
  });

  it('npm run vm -- --bios exits 0 for a passing program', async () => {
    const vm = tabvmSession(['--bios', resolve(bin, programs[0]!)], root);
    expect(await vm.exitCode(30_000)).toBe(0);
  });

  it('npm run vm -- --bios exits with the code a failing program writes to tohost', async () => {
    // tohost = (7 << 1) | 1 means "failed check 7" in the riscv-tests convention.
    const code = [
      0x00f0_0513, // addi a0, zero, 15
      0x0000_1297, // auipc t0, 1          (t0 = 0x8000_1004)
      0xfea2_be23, // sd a0, -4(t0)        (tohost at 0x8000_1000)
      0x0000_006f, // j .
    ];
    const elf = tohostElf(code);
    const file = resolve(mkdtempSync(resolve(tmpdir(), 'tabvm-bm-')), 'fail7.elf');
    writeFileSync(file, elf);
    const vm = tabvmSession(['--bios', file], root);
    expect(await vm.exitCode(30_000)).toBe(7);
  });
});

// Two harts, each in a worker thread of its own (docs/harts.md): the program's own checks run on both and
// hart 0 ends with the exit code. With the JIT's default threshold, at 1 (every block translated at once:
// smp-fencei's rewritten code must still run after the FENCE.I) and at 0 (the interpreter only), which
// scripts/smp/hart-thread.ts takes from TABVM_JIT_THRESHOLD.
describe('multi-hart bare-metal programs', () => {
  const tabvm = [process.execPath, '--import', 'tsx', 'scripts/vm.ts'];

  it('exist', () => {
    expect(smpPrograms).toEqual(['smp-fencei.elf', 'smp-ipi.elf']);
  });

  it.each(smpPrograms.flatMap((file) => ['default', '1', '0'].map((jit) => [file, jit] as const)))(
    '%s passes on 2 harts, JIT threshold %s',
    async (file, jit) => {
      const env = jit === 'default' ? [] : [`TABVM_JIT_THRESHOLD=${jit}`];
      const vm = new ConsoleSession('env', [...env, ...tabvm, '--smp', '2', '--bios', resolve(bin, 'smp', file)], {
        cwd: root,
      });
      const code = await vm.exitCode(240_000);
      expect(code, vm.output).toBe(0);
      expect(vm.output).toContain(`tabvm-baremetal ${file.slice(0, -'.elf'.length)}: PASS`);
      const figures = /smp-ipi: .*/.exec(vm.output);
      if (figures) console.log(`JIT threshold ${jit}: ${figures[0]}`);
    },
    300_000,
  );
});
