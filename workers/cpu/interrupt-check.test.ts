// An interrupt raised from another thread while a hart runs (docs/harts.md "Interrupt latency across
// threads"): with several harts run() looks at mip every INTERRUPT_CHECK (4096) instructions, translated
// code included, so a busy hart takes it within the slice; with one hart a line changes only between
// slices and run() looks at mip only at its start. A store to a fake device raises MSIP through HartPins,
// as the CLINT does from the device host's thread; the core gets no event for it.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import { HartPins } from './core.ts';
import { CODE, INTERRUPT, IRQ, M_TRAP, MSTATUS, Machine } from './test-support/machine.ts';

const DEVICE = 0x1000_0000;
const SLICE = 200_000;
const INTERRUPT_CHECK = 4096;

// s1 counts the busy loop's rounds (two instructions each) after the store that raises the interrupt.
const program = [...A.li('t0', BigInt(DEVICE)), A.sw('zero', 't0', 0), A.addi('s1', 's1', 1), A.j(-4)];

async function raiseWhileBusy(harts: number): Promise<Machine> {
  const m = await Machine.boot(program, { harts });
  const pins = new HartPins(m.memory, 0);
  m.bus.map(DEVICE, 4, { write: () => pins.setPending(1n << IRQ.MSI, true) });
  m.setCsr('mie', 1n << IRQ.MSI);
  m.setCsr('mstatus', m.csr('mstatus') | MSTATUS.MIE);
  return m;
}

function inHandler(m: Machine): boolean {
  return m.pc >= M_TRAP && m.pc < M_TRAP + 8n;
}

describe('an interrupt raised by another thread during a slice', () => {
  it('is taken within INTERRUPT_CHECK instructions when several harts share the memory', async () => {
    const m = await raiseWhileBusy(2);
    m.run(SLICE);
    expect(inHandler(m)).toBe(true);
    expect(m.csr('mcause')).toBe(INTERRUPT | IRQ.MSI);
    expect(m.csr('mepc')).toBeGreaterThan(CODE);
    expect(m.x('s1')).toBeGreaterThan(0n);
    expect(m.x('s1')).toBeLessThanOrEqual(BigInt(INTERRUPT_CHECK / 2));
  });

  it('waits for the next slice with one hart', async () => {
    const m = await raiseWhileBusy(1);
    m.run(SLICE);
    expect(inHandler(m)).toBe(false);
    const rounds = m.x('s1');
    expect(rounds).toBeGreaterThan(BigInt(SLICE / 2 - 10));
    m.run(SLICE);
    expect(inHandler(m)).toBe(true);
    expect(m.csr('mcause')).toBe(INTERRUPT | IRQ.MSI);
    expect(m.x('s1')).toBe(rounds);
  });
});
