// Runs every bare-metal guest program in tests/baremetal/bin on the whole machine (CPU, bus, CLINT, PLIC,
// UART) as `npm run vm -- --bios X.elf` does, and expects each to report a pass through its tohost word.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { Machine } from '../workers/machine/machine.ts';
import { tabvmSession } from '../scripts/lib/console-session.ts';
import { makeElf } from '../workers/machine/elf-fixture.ts';
import { coreModule as loadCore } from '../scripts/lib/in-process.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const bin = resolve(root, 'tests/baremetal/bin');
const programs = readdirSync(bin).filter((f) => f.endsWith('.elf')).sort();
const coreModule = loadCore();

function runBareMetal(file: string): { exitCode: number; console: string } {
  let console = '';
  const machine = new Machine(
    { ramSize: 64 << 20, bios: readFileSync(resolve(bin, file)), bootargs: '', sharedMemory: true, coreModule },
    { console: { write: (b) => (console += String.fromCharCode(b)) } },
  );
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const status = machine.runSlice();
    if (status.kind === 'halted') return { exitCode: status.exitCode, console };
  }
  throw new Error(`${file} did not finish in 20 s; console: ${console}`);
}

describe('bare-metal guest programs', () => {
  it('exist', () => {
    expect(programs.length).toBeGreaterThanOrEqual(5);
  });

  it.each(programs)('%s passes', (file) => {
    const { exitCode, console } = runBareMetal(file);
    expect(exitCode, `console output: ${console}`).toBe(0);
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
    const elf = makeElf({
      entry: 0x8000_0000n,
      segments: [
        { vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: code.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24]), memsz: 16, flags: 5 },
        { vaddr: 0x8000_1000n, paddr: 0x8000_1000n, data: new Array<number>(8).fill(0), memsz: 8, flags: 6 },
      ],
      symbols: [{ name: 'tohost', value: 0x8000_1000n, size: 8n, bind: 1 }],
    });
    const file = resolve(mkdtempSync(resolve(tmpdir(), 'tabvm-bm-')), 'fail7.elf');
    writeFileSync(file, elf);
    const vm = tabvmSession(['--bios', file], root);
    expect(await vm.exitCode(30_000)).toBe(7);
  });
});
