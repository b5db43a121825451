// Saving and loading a hart (STYLE.md habit 7: saving a CPU is a byte copy of its state block). A hart
// stopped mid-program and loaded into a fresh hart over a copy of RAM must finish exactly as the
// original does: same registers, FP state, privilege, and the LR/SC reservation still held.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import { CODE, DATA, Machine, PRIV_M, PRIV_S } from './test-support/machine.ts';
import * as L from './layout.ts';
import { MIP_MSIP, MIP_MTIP } from './core.ts';

const { li, ebreak } = A;
const ONE = 0x3ff0_0000_0000_0000n; // 1.0
const THREE = 0x4008_0000_0000_0000n; // 3.0
const FOUR = 0x4010_0000_0000_0000n; // 4.0
const MSTATUS_FS_INITIAL = 1n << 13n;

const prefix = [
  li('s0', DATA),
  li('t0', ONE),
  li('t1', THREE),
  A.fmv_d_x(1, 't0'),
  A.fmv_d_x(2, 't1'),
  A.lr_d('a0', 's0'),
];
const rest = [A.fadd_d(3, 1, 2), li('a2', 77), A.sc_d('a1', 'a2', 's0'), A.fmv_x_d('a3', 3), ebreak()];

/** A machine stopped right after the lr.d, with the reservation held. */
async function stoppedAfterLr(): Promise<Machine> {
  const m = await Machine.create();
  m.boot([...prefix, ...rest], { priv: PRIV_S });
  m.setCsr('mstatus', m.csr('mstatus') | MSTATUS_FS_INITIAL);
  m.setCsr('fcsr', (1n << 5n) | 1n); // frm = RTZ, fflags.NX
  m.write64(DATA, 5n);
  const stop = CODE + BigInt(A.sizeOf(prefix));
  for (let i = 0; i < 100 && m.pc !== stop; i++) m.run(1);
  expect(m.pc).toBe(stop);
  expect(m.hart.field(L.RESERVATION)).not.toBe(BigInt.asUintN(64, -1n));
  return m;
}

/** A fresh machine with the same RAM and `state` loaded into its hart. */
async function loadedFrom(original: Machine, state: Uint8Array): Promise<Machine> {
  const m = await Machine.create(original.ramSize);
  m.writeBytes(BigInt(L.DRAM_BASE), original.readBytes(BigInt(L.DRAM_BASE), original.ramSize));
  m.hart.loadState(state);
  return m;
}

describe('hart saveState / loadState', () => {
  it('a loaded hart continues exactly as the original: registers, FP, privilege, reservation', async () => {
    const a = await stoppedAfterLr();
    const saved = a.hart.saveState();
    expect(saved.length).toBe(L.HART_STRIDE);
    const b = await loadedFrom(a, saved);
    // Everything before the software TLBs is architectural state and comes back as saved; the TLBs are
    // a cache that loading flushes.
    expect(b.hart.saveState().subarray(0, L.TLB_READ)).toEqual(saved.subarray(0, L.TLB_READ));
    expect(b.privilege).toBe(PRIV_S);
    expect(b.pc).toBe(a.pc);

    a.runToEbreak();
    b.runToEbreak();
    expect(b.x('a1')).toBe(0n); // the sc.d succeeded: the reservation came along
    expect(b.read64(DATA)).toBe(77n);
    expect(b.x('a3')).toBe(FOUR);
    expect(b.csr('fcsr')).toBe((1n << 5n) | 1n);
    for (let r = 1; r < 32; r++) expect(b.hart.x(r), `x${r}`).toBe(a.hart.x(r));
    expect(b.csr('instret')).toBe(a.csr('instret'));
    expect(b.csr('mepc')).toBe(a.csr('mepc'));
  });

  it('the reservation lives in the block: a block without it makes the same sc.d fail', async () => {
    const a = await stoppedAfterLr();
    const saved = a.hart.saveState();
    new DataView(saved.buffer).setBigUint64(L.RESERVATION, BigInt.asUintN(64, -1n), true);
    const b = await loadedFrom(a, saved);
    b.runToEbreak();
    expect(b.x('a1')).toBe(1n);
    expect(b.read64(DATA)).toBe(5n);
  });

  it('a hart asleep in WFI is still asleep after loading', async () => {
    const a = await Machine.create();
    a.boot([A.wfi(), ebreak()], { priv: PRIV_M });
    const run = a.run(10);
    expect(run.stop).toBe(L.STOP_WFI);
    expect(a.hart.waiting).toBe(true);
    const b = await loadedFrom(a, a.hart.saveState());
    expect(b.hart.waiting).toBe(true);
    expect(b.pc).toBe(a.pc);
    expect(b.run(10).stop).toBe(L.STOP_WFI);
  });
});

describe('hart reset', () => {
  it('clears the software-writable mip bits but keeps the lines the CLINT and the PLIC drive', async () => {
    // The lines are wires from devices that a hart's reset does not touch (and that the device host may
    // drive from another thread while the hart resets); mip.SSIP and mip.STIP are the hart's own.
    const m = await Machine.create();
    m.hart.setPending(MIP_MTIP, true);
    m.hart.setSupervisorExternal(true);
    m.hart.setField(L.MIP, m.hart.field(L.MIP) | (1n << 1n) | (1n << 5n)); // SSIP, STIP
    m.hart.reset(BigInt(L.DRAM_BASE));
    expect(m.hart.field(L.MIP)).toBe(MIP_MTIP);
    expect(m.hart.field(L.SEIP_LINE)).toBe(1n);
    expect(m.hart.field(L.X_REGS + 8)).toBe(0n);
  });

  it('counts every line change on the hart\'s wake word', async () => {
    const m = await Machine.create();
    const before = m.hart.pins.wakeCount;
    m.hart.setPending(MIP_MSIP, true);
    m.hart.setPending(MIP_MSIP, false);
    m.hart.setSupervisorExternal(true);
    expect(m.hart.pins.wakeCount - before).toBe(3);
    expect(m.hart.field(L.MIP) & MIP_MSIP).toBe(0n);
  });
});
