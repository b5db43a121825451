// Traps on the CPU core (privileged spec 1.12 §3.1.6–3.1.9, §3.3, §4.1): synchronous exceptions and
// their delegation, the MPP/MPIE and SPP/SPIE stacks of trap entry and xRET, interrupt enabling,
// priority and delegation, the PLIC's SEIP line, WFI, and vectored trap vectors.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import { MIP_MEIP, MIP_MSIP, MIP_MTIP } from './core.ts';
import * as L from './layout.ts';
import {
  CAUSE,
  CODE,
  INTERRUPT,
  IRQ,
  MPP_SHIFT,
  MSTATUS,
  Machine,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  type Trap,
} from './test-support/machine.ts';

const { li, ebreak, ecall, csrr, csrw, csrs, addi } = A;
const bit = (irq: bigint): bigint => 1n << irq;

async function boot(code: Item[], priv = PRIV_M): Promise<Machine> {
  return Machine.boot(code, { priv });
}

describe('ecall and ebreak', () => {
  it.each([
    ['U', PRIV_U, CAUSE.ecallU],
    ['S', PRIV_S, CAUSE.ecallS],
    ['M', PRIV_M, CAUSE.ecallM],
  ])('ecall from %s traps to M with its own cause, mtval 0 and MPP = the mode', async (_n, priv, cause) => {
    const m = await boot([A.nop(), ecall()], priv);
    const trap = m.runToTrap();
    expect(trap).toEqual({ level: 'M', cause, epc: CODE + 4n, tval: 0n });
    expect((m.csr('mstatus') & MSTATUS.MPP) >> MPP_SHIFT).toBe(BigInt(priv));
    expect(m.privilege).toBe(PRIV_M);
  });

  it('ebreak: cause 3, mtval = its address', async () => {
    const m = await boot([A.nop(), ebreak()]);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.breakpoint, epc: CODE + 4n, tval: CODE + 4n });
  });

  it('trap entry moves MIE to MPIE and clears MIE', async () => {
    const m = await boot([li('t0', MSTATUS.MIE), csrs('mstatus', 't0'), ecall()]);
    m.runToTrap();
    const ms = m.csr('mstatus');
    expect(ms & MSTATUS.MIE).toBe(0n);
    expect(ms & MSTATUS.MPIE).toBe(MSTATUS.MPIE);
    expect(ms & MSTATUS.MPP).toBe(MSTATUS.MPP);
  });
});

describe('exception delegation (medeleg)', () => {
  it('ecall from U delegated to S: scause, sepc, SPP = U, SPIE = SIE, SIE = 0, M state untouched', async () => {
    const m = await Machine.create();
    m.boot([A.nop(), ecall()], { priv: PRIV_U });
    m.setCsr('medeleg', bit(CAUSE.ecallU));
    m.setCsr('mstatus', m.csr('mstatus') | MSTATUS.SIE);
    const trap = m.runToTrap();
    expect(trap).toEqual({ level: 'S', cause: CAUSE.ecallU, epc: CODE + 4n, tval: 0n });
    expect(m.privilege).toBe(PRIV_S);
    const ms = m.csr('mstatus');
    expect(ms & MSTATUS.SPP).toBe(0n);
    expect(ms & MSTATUS.SPIE).toBe(MSTATUS.SPIE);
    expect(ms & MSTATUS.SIE).toBe(0n);
    expect(m.csr('mcause')).toBe(0n);
    expect(m.csr('mepc')).toBe(CODE); // from the harness's mret, not from this trap
  });

  it('traps taken in M stay in M whatever medeleg says', async () => {
    const m = await boot([li('t0', -1), csrw('medeleg', 't0'), 0xffff_ffff]);
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: CAUSE.illegalInstruction });
    const m2 = await boot([li('t0', -1), csrw('medeleg', 't0'), ecall()]);
    expect(m2.runToTrap()).toMatchObject({ level: 'M', cause: CAUSE.ecallM });
  });

  // Where the trap went, and the privilege it came from as the trap recorded it (SPP or MPP).
  it.each<[string, Item[], number, bigint, Trap]>([
    [
      'ecall from S delegated to S sets SPP = S',
      [ecall()],
      PRIV_S,
      bit(CAUSE.ecallS),
      { level: 'S', cause: CAUSE.ecallS, epc: CODE, tval: 0n },
    ],
    [
      'an illegal instruction in U delegated to S has stval = the instruction',
      [0xffff_ffff],
      PRIV_U,
      bit(CAUSE.illegalInstruction),
      { level: 'S', cause: CAUSE.illegalInstruction, epc: CODE, tval: 0xffff_ffffn },
    ],
    [
      'an exception whose bit is clear goes to M even from U',
      [ecall()],
      PRIV_U,
      bit(CAUSE.ecallS),
      { level: 'M', cause: CAUSE.ecallU, epc: CODE, tval: 0n },
    ],
  ])('%s', async (_what, code, priv, medeleg, expected) => {
    const m = await Machine.create();
    m.boot(code, { priv });
    m.setCsr('medeleg', medeleg);
    expect(m.runToTrap()).toEqual(expected);
    const ms = m.csr('mstatus');
    const from =
      expected.level === 'S' ? ((ms & MSTATUS.SPP) !== 0n ? PRIV_S : PRIV_U) : Number((ms & MSTATUS.MPP) >> MPP_SHIFT);
    expect(from).toBe(priv);
  });
});

describe('mret and sret (§3.3.2)', () => {
  /** Executes the one xRET at CODE in `priv` with the given mstatus; returns the machine after it. */
  async function step(insn: number, mstatus: bigint, priv = PRIV_M): Promise<Machine> {
    const m = await Machine.create();
    m.boot([insn], { priv });
    if (priv !== PRIV_M) m.run(1); // the harness's mret into `priv`
    m.setCsr('mepc', 0x8000_5000n);
    m.setCsr('sepc', 0x8000_6000n);
    m.setCsr('mstatus', (m.csr('mstatus') & ~0xffff_ffffn) | mstatus);
    expect(m.run(1).retired).toBe(1);
    return m;
  }

  it('mret to S: MIE = MPIE, MPIE = 1, MPP = U, privilege = S, pc = mepc', async () => {
    const m = await step(A.mret(), MSTATUS.MPIE | (1n << MPP_SHIFT));
    expect(m.privilege).toBe(PRIV_S);
    expect(m.pc).toBe(0x8000_5000n);
    const ms = m.csr('mstatus');
    expect(ms & (MSTATUS.MIE | MSTATUS.MPIE | MSTATUS.MPP)).toBe(MSTATUS.MIE | MSTATUS.MPIE);
  });

  it('mret with MPIE = 0 leaves MIE = 0', async () => {
    const m = await step(A.mret(), MSTATUS.MIE | (1n << MPP_SHIFT));
    expect(m.csr('mstatus') & (MSTATUS.MIE | MSTATUS.MPIE)).toBe(MSTATUS.MPIE);
  });

  it('mret to U or S clears MPRV; mret to M keeps it', async () => {
    const toU = await step(A.mret(), MSTATUS.MPRV);
    expect(toU.privilege).toBe(PRIV_U);
    expect(toU.csr('mstatus') & MSTATUS.MPRV).toBe(0n);
    const toM = await step(A.mret(), MSTATUS.MPRV | MSTATUS.MPP);
    expect(toM.privilege).toBe(PRIV_M);
    expect(toM.csr('mstatus') & MSTATUS.MPRV).toBe(MSTATUS.MPRV);
    expect(toM.csr('mstatus') & MSTATUS.MPP).toBe(0n);
  });

  it('sret to U: SIE = SPIE, SPIE = 1, SPP = U, MPRV = 0, pc = sepc', async () => {
    const m = await step(A.sret(), MSTATUS.SPIE | MSTATUS.MPRV, PRIV_S);
    expect(m.privilege).toBe(PRIV_U);
    expect(m.pc).toBe(0x8000_6000n);
    expect(m.csr('mstatus') & (MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.SPP | MSTATUS.MPRV)).toBe(
      MSTATUS.SIE | MSTATUS.SPIE,
    );
  });

  it('sret to S from M', async () => {
    const m = await step(A.sret(), MSTATUS.SPP | MSTATUS.SIE);
    expect(m.privilege).toBe(PRIV_S);
    expect(m.csr('mstatus') & (MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.SPP)).toBe(MSTATUS.SPIE);
  });

  it.each([
    ['mret in S', A.mret(), PRIV_S, 0n],
    ['mret in U', A.mret(), PRIV_U, 0n],
    ['sret in U', A.sret(), PRIV_U, 0n],
    ['sret in S with TSR', A.sret(), PRIV_S, MSTATUS.TSR],
  ])('%s is illegal', async (_n, insn, priv, extra) => {
    const m = await Machine.create();
    m.boot([insn], { priv });
    m.setCsr('mstatus', m.csr('mstatus') | extra);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.illegalInstruction, epc: CODE, tval: BigInt(insn) });
  });
});

// ---- interrupts ---------------------------------------------------------------------------------------

describe('machine interrupts', () => {
  it('MTIP is taken in M once mstatus.MIE is set, before the next instruction', async () => {
    const m = await boot([
      li('t0', bit(IRQ.MTI)),
      csrw('mie', 't0'),
      li('t1', MSTATUS.MIE),
      csrs('mstatus', 't1'),
      addi('a0', 0, 1),
      ebreak(),
    ]);
    m.hart.setPending(MIP_MTIP, true);
    const trap = m.runToTrap();
    const after =
      CODE +
      BigInt(A.sizeOf([li('t0', bit(IRQ.MTI)), csrw('mie', 't0'), li('t1', MSTATUS.MIE), csrs('mstatus', 't1')]));
    expect(trap).toEqual({ level: 'M', cause: INTERRUPT | IRQ.MTI, epc: after, tval: 0n });
    expect(m.x('a0')).toBe(0n);
    expect(m.csr('mstatus') & (MSTATUS.MIE | MSTATUS.MPIE)).toBe(MSTATUS.MPIE);
  });

  it('is not taken in M while mstatus.MIE = 0', async () => {
    const m = await boot([li('t0', bit(IRQ.MTI)), csrw('mie', 't0'), addi('a0', 0, 1), ebreak()]);
    m.hart.setPending(MIP_MTIP, true);
    expect(m.runToTrap().cause).toBe(CAUSE.breakpoint);
    expect(m.x('a0')).toBe(1n);
  });

  it('is not taken when its mie bit is clear, even from U', async () => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1), ebreak()], { priv: PRIV_U });
    m.setCsr('mie', bit(IRQ.MSI));
    m.hart.setPending(MIP_MTIP, true);
    expect(m.runToTrap().cause).toBe(CAUSE.breakpoint);
  });

  it.each([
    ['S', PRIV_S],
    ['U', PRIV_U],
  ])('is always taken from %s, whatever mstatus.MIE', async (_n, priv) => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1), ebreak()], { priv });
    m.setCsr('mie', bit(IRQ.MTI));
    m.hart.setPending(MIP_MTIP, true);
    const trap = m.runToTrap();
    expect(trap).toEqual({ level: 'M', cause: INTERRUPT | IRQ.MTI, epc: CODE, tval: 0n });
    expect((m.csr('mstatus') & MSTATUS.MPP) >> MPP_SHIFT).toBe(BigInt(priv));
    expect(m.x('a0')).toBe(0n);
  });

  it('clearing the pending line stops the interrupt', async () => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1), ebreak()], { priv: PRIV_U });
    m.setCsr('mie', bit(IRQ.MTI));
    m.hart.setPending(MIP_MTIP, true);
    m.hart.setPending(MIP_MTIP, false);
    expect(m.runToTrap().cause).toBe(CAUSE.breakpoint);
  });

  // §3.1.9: "MEI, MSI, MTI, SEI, SSI, STI" in decreasing priority.
  it.each([
    ['MEI MSI', 'MEI'],
    ['MSI MTI', 'MSI'],
    ['MTI SEI', 'MTI'],
    ['SEI SSI', 'SEI'],
    ['SSI STI', 'SSI'],
    ['STI SEI MTI MEI SSI MSI', 'MEI'],
    ['STI', 'STI'],
  ] as const)('with %s pending, %s is taken first', async (names, firstName) => {
    const pending = names.split(' ').map((n) => IRQ[n as keyof typeof IRQ]);
    const first = IRQ[firstName];
    const m = await Machine.create();
    m.boot([ebreak()], { priv: PRIV_U });
    m.setCsr('mie', 0xaaan);
    const hostBits: Record<string, bigint> = {
      [`${IRQ.MSI}`]: MIP_MSIP,
      [`${IRQ.MTI}`]: MIP_MTIP,
      [`${IRQ.MEI}`]: MIP_MEIP,
    };
    for (const irq of pending) {
      const hostBit = hostBits[`${irq}`];
      if (hostBit !== undefined) m.hart.setPending(hostBit, true);
      else m.setCsr('mip', m.csr('mip') | bit(irq));
    }
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: INTERRUPT | first });
  });
});

describe('supervisor interrupts and mideleg', () => {
  it.each([
    ['STI', IRQ.STI],
    ['SSI', IRQ.SSI],
    ['SEI', IRQ.SEI],
  ])('a delegated %s from U goes to S', async (_n, irq) => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1), ebreak()], { priv: PRIV_U });
    m.setCsr('mideleg', 0x222n);
    m.setCsr('mie', bit(irq));
    if (irq === IRQ.SEI) m.hart.setSupervisorExternal(true);
    else m.setCsr('mip', bit(irq));
    const trap = m.runToTrap();
    expect(trap).toEqual({ level: 'S', cause: INTERRUPT | irq, epc: CODE, tval: 0n });
    expect(m.privilege).toBe(PRIV_S);
    expect(m.csr('mstatus') & MSTATUS.SPP).toBe(0n);
  });

  it('a delegated interrupt in S waits for sstatus.SIE', async () => {
    const code = [addi('a0', 0, 1), A.csrrsi(0, 'sstatus', 2), addi('a1', 0, 1), ebreak()];
    const m = await Machine.create();
    m.boot(code, { priv: PRIV_S });
    m.setCsr('mideleg', 0x222n);
    m.setCsr('mie', bit(IRQ.STI));
    m.setCsr('mip', bit(IRQ.STI));
    const trap = m.runToTrap();
    expect(trap).toEqual({ level: 'S', cause: INTERRUPT | IRQ.STI, epc: CODE + 8n, tval: 0n });
    expect(m.x('a0')).toBe(1n);
    expect(m.x('a1')).toBe(0n);
    expect(m.csr('mstatus') & (MSTATUS.SPP | MSTATUS.SPIE | MSTATUS.SIE)).toBe(MSTATUS.SPP | MSTATUS.SPIE);
  });

  it('a delegated interrupt is never taken in M, even with MIE and SIE set', async () => {
    const m = await boot([li('t0', MSTATUS.MIE | MSTATUS.SIE), csrs('mstatus', 't0'), addi('a0', 0, 1), ebreak()]);
    m.setCsr('mideleg', 0x222n);
    m.setCsr('mie', 0x222n);
    m.setCsr('mip', 0x222n);
    expect(m.runToTrap().cause).toBe(CAUSE.breakpoint);
    expect(m.x('a0')).toBe(1n);
  });

  it('an undelegated supervisor interrupt goes to M', async () => {
    const m = await Machine.create();
    m.boot([ebreak()], { priv: PRIV_S });
    m.setCsr('mie', bit(IRQ.STI));
    m.setCsr('mip', bit(IRQ.STI));
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: INTERRUPT | IRQ.STI });
  });

  it('an M interrupt is taken before a delegated S interrupt, from S with SIE set', async () => {
    const m = await Machine.create();
    m.boot([ebreak()], { priv: PRIV_S });
    m.setCsr('mideleg', 0x222n);
    m.setCsr('mie', 0xaaan);
    m.setCsr('mip', bit(IRQ.SEI));
    m.setCsr('mstatus', m.csr('mstatus') | MSTATUS.SIE | MSTATUS.SPIE);
    m.hart.setPending(MIP_MTIP, true);
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: INTERRUPT | IRQ.MTI });
  });
});

describe('host-driven pending bits', () => {
  it('MSIP, MTIP and MEIP read in mip as the CLINT/PLIC drive them; software cannot clear them', async () => {
    const m = await boot([csrr('a0', 'mip'), li('t0', -1), A.csrc('mip', 't0'), csrr('a1', 'mip'), ebreak()]);
    m.hart.setPending(MIP_MSIP, true);
    m.hart.setPending(MIP_MTIP, true);
    m.hart.setPending(MIP_MEIP, true);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x888n);
    expect(m.x('a1')).toBe(0x888n);
  });
});

describe('the PLIC supervisor external line (SEIP)', () => {
  it('is ORed into mip and sip reads', async () => {
    const m = await boot([
      csrr('a0', 'mip'),
      csrr('a1', 'sip'),
      li('t0', 0x200),
      csrw('mideleg', 't0'),
      csrr('a2', 'sip'),
      ebreak(),
    ]);
    m.hart.setSupervisorExternal(true);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x200n);
    expect(m.x('a1')).toBe(0n); // not delegated yet: invisible in sip
    expect(m.x('a2')).toBe(0x200n);
  });

  it('is not latched into the software SEIP bit by csrrs/csrrc on mip', async () => {
    // §3.1.9: "the signal from the interrupt controller is not used to calculate the value written to
    // SEIP. Only the software-writable SEIP bit participates in the read-modify-write sequence".
    const m = await boot([A.csrrsi('a0', 'mip', 2), A.csrrci('a1', 'mip', 0), ebreak()]);
    m.hart.setSupervisorExternal(true);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x200n);
    m.hart.setSupervisorExternal(false);
    expect(m.csr('mip')).toBe(0x2n);
  });

  it('the software SEIP bit and the line are independent sources', async () => {
    const m = await boot([li('t0', 0x200), csrs('mip', 't0'), A.nop(), ebreak()]);
    m.hart.setSupervisorExternal(true);
    m.runToEbreak();
    m.hart.setSupervisorExternal(false);
    expect(m.csr('mip')).toBe(0x200n); // written by software: stays
  });

  it('raises an interrupt when enabled', async () => {
    const m = await Machine.create();
    m.boot([ebreak()], { priv: PRIV_U });
    m.setCsr('mie', bit(IRQ.SEI));
    m.hart.setSupervisorExternal(true);
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: INTERRUPT | IRQ.SEI, epc: CODE });
  });
});

describe('WFI', () => {
  it('stops run() with STOP_WFI and sleeps until an enabled interrupt is pending', async () => {
    const m = await boot([li('t0', bit(IRQ.MTI)), csrw('mie', 't0'), A.wfi(), addi('a0', 0, 1), ebreak()]);
    const first = m.run(100);
    expect(first.stop).toBe(L.STOP_WFI);
    expect(m.hart.waiting).toBe(true);
    const wfiAt = CODE + BigInt(A.sizeOf([li('t0', bit(IRQ.MTI)), csrw('mie', 't0')]));
    expect(m.pc).toBe(wfiAt + 4n);
    expect(m.run(100)).toEqual({ retired: 0, stop: L.STOP_WFI });
    // Pending but not enabled: still asleep.
    m.hart.setPending(MIP_MSIP, true);
    expect(m.run(100)).toEqual({ retired: 0, stop: L.STOP_WFI });
    // Enabled: wakes; with MIE = 0 it goes on after the WFI without trapping.
    m.hart.setPending(MIP_MTIP, true);
    m.runToEbreak();
    expect(m.hart.waiting).toBe(false);
    expect(m.x('a0')).toBe(1n);
  });

  it('wakes into the trap handler when the interrupt is globally enabled, with mepc after the WFI', async () => {
    const prefix = [li('t0', bit(IRQ.MTI)), csrw('mie', 't0'), li('t1', MSTATUS.MIE), csrs('mstatus', 't1')];
    const m = await boot([...prefix, A.wfi(), addi('a0', 0, 1), ebreak()]);
    expect(m.run(100).stop).toBe(L.STOP_WFI);
    m.hart.setPending(MIP_MTIP, true);
    expect(m.runToTrap()).toEqual({
      level: 'M',
      cause: INTERRUPT | IRQ.MTI,
      epc: CODE + BigInt(A.sizeOf(prefix)) + 4n,
      tval: 0n,
    });
    expect(m.x('a0')).toBe(0n);
  });

  it('does not sleep when an enabled interrupt is already pending', async () => {
    const m = await boot([li('t0', bit(IRQ.MTI)), csrw('mie', 't0'), A.wfi(), addi('a0', 0, 1), ebreak()]);
    m.hart.setPending(MIP_MTIP, true);
    const r = m.runToHalt();
    expect(r.trap?.cause).toBe(CAUSE.breakpoint);
    expect(m.x('a0')).toBe(1n);
  });

  it('TW does not apply to M-mode', async () => {
    const m = await boot([li('t0', MSTATUS.TW), csrs('mstatus', 't0'), A.wfi(), ebreak()]);
    expect(m.run(100).stop).toBe(L.STOP_WFI);
    expect(m.hart.waiting).toBe(true);
  });

  it('sleeps in S when TW = 0', async () => {
    const m = await boot([A.wfi(), ebreak()], PRIV_S);
    expect(m.run(100).stop).toBe(L.STOP_WFI);
    expect(m.pc).toBe(CODE + 4n);
  });

  it.each([
    ['in U', PRIV_U, 0n],
    ['in S with TW = 1', PRIV_S, MSTATUS.TW],
  ])('is illegal %s', async (_n, priv, extra) => {
    const m = await Machine.create();
    m.boot([A.wfi(), ebreak()], { priv });
    m.setCsr('mstatus', m.csr('mstatus') | extra);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.illegalInstruction, epc: CODE, tval: BigInt(A.wfi()) });
  });
});

describe('vectored trap vectors (MODE = 1)', () => {
  const VECTORS = 0x8000_2000n;
  // At VECTORS + 4·i: `addi a0, zero, i`, so the handler that runs tells which slot was used.
  const slots = Array.from({ length: 16 }, (_, i) => addi('a0', 0, 100 + i));

  it('mtvec: interrupts go to BASE + 4·cause, exceptions to BASE', async () => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1)], { priv: PRIV_U });
    m.place(VECTORS, slots);
    m.setCsr('mtvec', VECTORS | 1n);
    m.setCsr('mie', bit(IRQ.MTI));
    m.hart.setPending(MIP_MTIP, true);
    m.run(2); // the harness's mret, then the handler's first instruction
    expect(m.csr('mcause')).toBe(INTERRUPT | IRQ.MTI);
    expect(m.x('a0')).toBe(100n + IRQ.MTI);

    const e = await Machine.create();
    e.boot([ecall()]);
    e.place(VECTORS, slots);
    e.setCsr('mtvec', VECTORS | 1n);
    e.run(2);
    expect(e.csr('mcause')).toBe(CAUSE.ecallM);
    expect(e.x('a0')).toBe(100n);
  });

  it('stvec: delegated interrupts go to BASE + 4·cause', async () => {
    const m = await Machine.create();
    m.boot([addi('a0', 0, 1)], { priv: PRIV_U });
    m.place(VECTORS, slots);
    m.setCsr('stvec', VECTORS | 1n);
    m.setCsr('mideleg', 0x222n);
    m.setCsr('mie', bit(IRQ.SSI));
    m.setCsr('mip', bit(IRQ.SSI));
    m.run(2);
    expect(m.csr('scause')).toBe(INTERRUPT | IRQ.SSI);
    expect(m.x('a0')).toBe(100n + IRQ.SSI);
  });
});
