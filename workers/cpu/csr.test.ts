// CSRs on the CPU core (privileged spec 1.12 ch. 2–4, unprivileged Zicsr/Zicntr): access rules taken
// from the CSR number, read-only CSRs, the WARL masks of the registers Linux and OpenSBI probe, counters
// and their enables, satp, delegation masks and PMP configuration.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import { CAUSE, CODE, DATA, M_TRAP, Machine, PRIV_M, PRIV_S, PRIV_U, runProgram } from './test-support/machine.ts';

const { li, ebreak, csrr, csrw, csrrw, csrrs, csrrc, csrrwi, csrrsi, csrrci } = A;

const ALL_ONES = 0xffff_ffff_ffff_ffffn;

/** Runs `code` in `priv` and expects it to trap on the instruction `insn` at its index with cause 2. */
async function expectIllegal(prefix: Item[], insn: number, priv = PRIV_M): Promise<Machine> {
  const m = await Machine.boot([...prefix, insn, ebreak()], { priv });
  const trap = m.runToTrap();
  expect({ cause: trap.cause, tval: trap.tval, epc: trap.epc }).toEqual({
    cause: CAUSE.illegalInstruction,
    tval: BigInt(insn >>> 0),
    epc: CODE + BigInt(A.sizeOf(prefix)),
  });
  return m;
}

describe('CSR instructions', () => {
  it('csrrw swaps; csrrs sets; csrrc clears; the immediate forms use the 5-bit zero-extended field', async () => {
    const m = await runProgram([
      li('a0', 0x1234_5678_9abc_def0n),
      csrw('mscratch', 'a0'),
      li('a1', 0xfn),
      csrrw('a2', 'mscratch', 'a1'), // a2 = old, mscratch = 0xf
      li('a1', 0xf0n),
      csrrs('a3', 'mscratch', 'a1'), // a3 = 0xf, mscratch = 0xff
      li('a1', 0x3cn),
      csrrc('a4', 'mscratch', 'a1'), // a4 = 0xff, mscratch = 0xc3
      csrrwi('a5', 'mscratch', 31), // a5 = 0xc3, mscratch = 31
      csrrsi('a6', 'mscratch', 0x20 - 1), // a6 = 31
      csrrci('a7', 'mscratch', 1), // a7 = 31, mscratch = 30
      csrr('t0', 'mscratch'),
      ebreak(),
    ]);
    expect(m.x('a2')).toBe(0x1234_5678_9abc_def0n);
    expect(m.x('a3')).toBe(0xfn);
    expect(m.x('a4')).toBe(0xffn);
    expect(m.x('a5')).toBe(0xc3n);
    expect(m.x('a6')).toBe(31n);
    expect(m.x('a7')).toBe(31n);
    expect(m.x('t0')).toBe(30n);
  });
});

describe('access rules (§2.1: bits 11:10 read-only when 0b11, bits 9:8 the lowest privilege)', () => {
  it.each([
    ['S reads an M CSR', csrr('a0', 'mstatus'), PRIV_S],
    ['S writes an M CSR', csrw('mscratch', 'a0'), PRIV_S],
    ['U reads an S CSR', csrr('a0', 'sstatus'), PRIV_U],
    ['U reads satp', csrr('a0', 'satp'), PRIV_U],
    ['U reads an M CSR', csrr('a0', 'mhartid'), PRIV_U],
    ['S reads a hypervisor CSR', csrr('a0', 0x600), PRIV_S],
    ['M reads a hypervisor CSR (no H extension)', csrr('a0', 0x600), PRIV_M],
    ['M reads a debug-mode CSR (dcsr)', csrr('a0', 0x7b0), PRIV_M],
  ])('%s is illegal', async (_what, insn, priv) => {
    await expectIllegal([], insn, priv);
  });

  it('S may use its own CSRs', async () => {
    const m = await Machine.boot([li('a0', 77), csrw('sscratch', 'a0'), csrr('a1', 'sscratch'), ebreak()], {
      priv: PRIV_S,
    });
    m.runToEbreak();
    expect(m.x('a1')).toBe(77n);
  });

  it.each([
    ['csrrw to mhartid', csrrw('a0', 'mhartid', 'a1')],
    ['csrrwi to mvendorid, even with uimm = 0', csrrwi('a0', 'mvendorid', 0)],
    ['csrrs to a read-only CSR with rs1 != x0, even if rs1 holds 0', csrrs('a0', 'mimpid', 'a1')],
    ['csrrc to cycle with rs1 != x0', csrrc('a0', 'cycle', 'a1')],
    ['csrrsi to time with uimm != 0', csrrsi('a0', 'time', 1)],
    ['csrw to instret', csrw('instret', 'a1')],
  ])('%s is illegal', async (_what, insn) => {
    await expectIllegal([li('a1', 0)], insn);
  });

  it('csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with uimm = 0 may read read-only CSRs', async () => {
    const m = await runProgram([
      li('a0', 5),
      csrrs('a0', 'mhartid', 0),
      li('a1', 5),
      csrrc('a1', 'marchid', 0),
      li('a2', 5),
      csrrsi('a2', 'mimpid', 0),
      li('a3', 5),
      csrrci('a3', 'mvendorid', 0),
      ebreak(),
    ]);
    expect([m.x('a0'), m.x('a1'), m.x('a2'), m.x('a3')]).toEqual([0n, 0n, 0n, 0n]);
  });

  it.each([0x7c0, 0x800, 0x5c0, 0xbc0, 0xfc0, 0x3f0, 0x205, 0x015, 0x7a5, 0x14d].map((n) => [n.toString(16), n]))(
    'unknown CSR 0x%s is illegal with mtval = the instruction',
    async (_hex, csr) => {
      await expectIllegal([], csrrs('a0', csr, 0));
      await expectIllegal([], csrrw(0, csr, 'a0'));
    },
  );
});

describe('machine information registers', () => {
  it('mvendorid, marchid, mimpid and mconfigptr read 0; mhartid the hart', async () => {
    const m = await runProgram([
      li('a0', 9),
      li('a1', 9),
      li('a2', 9),
      li('a3', 9),
      li('a4', 9),
      csrr('a0', 'mvendorid'),
      csrr('a1', 'marchid'),
      csrr('a2', 'mimpid'),
      csrr('a3', 'mhartid'),
      csrr('a4', 0xf15),
      ebreak(),
    ]);
    expect([m.x('a0'), m.x('a1'), m.x('a2'), m.x('a3'), m.x('a4')]).toEqual([0n, 0n, 0n, 0n, 0n]);
  });

  it('misa says RV64 IMAFDC with S and U, and ignores writes', async () => {
    // MXL = 2 (64 bits); extension bits A=0 C=2 D=3 F=5 I=8 M=12 S=18 U=20.
    const expected = (2n << 62n) | 0b1_0100_0001_0001_0010_1101n;
    const m = await runProgram([
      csrr('a0', 'misa'),
      csrw('misa', 0),
      li('a1', ALL_ONES),
      csrw('misa', 'a1'),
      csrr('a2', 'misa'),
      ebreak(),
    ]);
    expect(m.x('a0')).toBe(expected);
    expect(expected).toBe(0x8000_0000_0014_112dn);
    expect(m.x('a2')).toBe(expected);
  });
});

describe('mstatus and sstatus', () => {
  // Fields (§3.1.6): SIE 1, MIE 3, SPIE 5, UBE 6, MPIE 7, SPP 8, VS 9-10, MPP 11-12, FS 13-14, XS 15-16,
  // MPRV 17, SUM 18, MXR 19, TVM 20, TW 21, TSR 22, UXL 32-33, SXL 34-35, SBE 36, MBE 37, SD 63.
  const bit = (...bits: number[]): bigint => bits.reduce((v, b) => v | (1n << BigInt(b)), 0n);
  const UXL_SXL_64 = (2n << 32n) | (2n << 34n);
  const SD = 1n << 63n;

  it('resets with UXL = SXL = 64 and everything else 0', async () => {
    const m = await runProgram([csrr('a0', 'mstatus'), ebreak()]);
    expect(m.x('a0')).toBe(UXL_SXL_64);
  });

  it('writing all ones sets exactly the implemented fields; SD follows FS', async () => {
    const m = await runProgram([
      li('a0', ALL_ONES),
      csrw('mstatus', 'a0'),
      csrr('a1', 'mstatus'),
      csrr('a2', 'sstatus'),
      ebreak(),
    ]);
    const writable = bit(1, 3, 5, 7, 8, 11, 12, 13, 14, 17, 18, 19, 20, 21, 22);
    expect(m.x('a1')).toBe(writable | UXL_SXL_64 | SD);
    // sstatus shows SIE SPIE SPP FS SUM MXR UXL SD only.
    expect(m.x('a2')).toBe(bit(1, 5, 8, 13, 14, 18, 19) | (2n << 32n) | SD);
  });

  it('sstatus writes reach only the supervisor fields of mstatus', async () => {
    const m = await runProgram([
      csrw('mstatus', 0),
      li('a0', ALL_ONES),
      csrw('sstatus', 'a0'),
      csrr('a1', 'mstatus'),
      csrw('sstatus', 0),
      csrr('a2', 'mstatus'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(bit(1, 5, 8, 13, 14, 18, 19) | UXL_SXL_64 | SD);
    expect(m.x('a2')).toBe(UXL_SXL_64);
  });

  it('SD is read-only and set only when FS is dirty', async () => {
    const m = await runProgram([
      li('a0', 1n << 63n),
      csrw('mstatus', 'a0'),
      csrr('a1', 'mstatus'),
      li('a0', 1n << 13n),
      csrw('mstatus', 'a0'),
      csrr('a2', 'mstatus'), // FS = initial
      li('a0', 2n << 13n),
      csrw('mstatus', 'a0'),
      csrr('a3', 'mstatus'), // FS = clean
      li('a0', 3n << 13n),
      csrw('mstatus', 'a0'),
      csrr('a4', 'mstatus'), // FS = dirty
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(UXL_SXL_64);
    expect(m.x('a2')).toBe(UXL_SXL_64 | (1n << 13n));
    expect(m.x('a3')).toBe(UXL_SXL_64 | (2n << 13n));
    expect(m.x('a4')).toBe(UXL_SXL_64 | (3n << 13n) | SD);
  });

  it('MPP is WARL: the reserved value 2 keeps the previous mode', async () => {
    const m = await runProgram([
      li('a0', 1n << 11n),
      csrw('mstatus', 'a0'), // MPP = S
      li('a0', 2n << 11n),
      csrw('mstatus', 'a0'),
      csrr('a1', 'mstatus'),
      ebreak(),
    ]);
    expect((m.x('a1') >> 11n) & 3n).toBe(1n);
  });

  it('UXL and SXL cannot be changed', async () => {
    const m = await runProgram([
      li('a0', (1n << 32n) | (1n << 34n)),
      csrw('mstatus', 'a0'),
      csrr('a1', 'mstatus'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(UXL_SXL_64);
  });
});

describe('floating-point CSRs', () => {
  it.each([
    ['fflags', csrr('a0', 'fflags')],
    ['frm', csrr('a0', 'frm')],
    ['fcsr', csrw('fcsr', 'a0')],
  ])('%s is illegal while mstatus.FS = Off', async (_n, insn) => {
    await expectIllegal([], insn);
  });

  it('fflags, frm and fcsr are views of one register; a write makes FS dirty', async () => {
    const m = await runProgram([
      li('a0', 1n << 13n),
      csrw('mstatus', 'a0'), // FS = Initial
      li('a0', ALL_ONES),
      csrw('fflags', 'a0'),
      csrr('a1', 'fcsr'),
      csrr('a2', 'mstatus'),
      csrw('frm', 'a0'),
      csrr('a3', 'fcsr'),
      csrr('a4', 'frm'),
      li('a0', 0x1a5),
      csrw('fcsr', 'a0'),
      csrr('a5', 'fcsr'),
      csrr('a6', 'frm'),
      csrr('a7', 'fflags'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x1fn);
    expect((m.x('a2') >> 13n) & 3n).toBe(3n);
    expect(m.x('a2') >> 63n).toBe(1n);
    expect(m.x('a3')).toBe(0xffn);
    expect(m.x('a4')).toBe(7n);
    expect(m.x('a5')).toBe(0xa5n);
    expect(m.x('a6')).toBe(5n);
    expect(m.x('a7')).toBe(5n);
  });
});

describe('counters (Zicntr) and their enables', () => {
  it('minstret and instret count retired instructions; cycle equals them', async () => {
    const m = await runProgram([
      A.nop(),
      A.nop(),
      csrr('a0', 'minstret'),
      csrr('a1', 'instret'),
      csrr('a2', 'cycle'),
      ebreak(),
    ]);
    expect(m.x('a0')).toBe(2n);
    expect(m.x('a1')).toBe(3n);
    expect(m.x('a2')).toBe(4n);
  });

  it('a value written to minstret is the value the next instruction reads', async () => {
    // Unprivileged spec, Zicsr: "a value written to instret by one instruction will be the value read by
    // the following instruction".
    const m = await runProgram([
      li('a0', 100),
      csrw('minstret', 'a0'),
      csrr('a1', 'minstret'),
      csrr('a2', 'minstret'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(100n);
    expect(m.x('a2')).toBe(101n);
  });

  it('mcycle and minstret are separate registers: writing one leaves the other counting', async () => {
    const m = await runProgram([
      li('a0', 1000),
      csrw('mcycle', 'a0'), // minstret keeps counting from where it was
      csrr('a1', 'mcycle'),
      csrr('a2', 'minstret'),
      li('a0', 50),
      csrw('minstret', 'a0'), // mcycle keeps counting from where it was
      csrr('a3', 'minstret'),
      csrr('a4', 'mcycle'),
      csrr('a5', 'mcountinhibit'),
      ebreak(),
    ]);
    const liLength = BigInt(li('a0', 1000).length);
    expect(m.x('a1')).toBe(1000n);
    expect(m.x('a2')).toBe(liLength + 2n); // li, csrw, csrr retired before it
    expect(m.x('a3')).toBe(50n);
    expect(m.x('a4')).toBe(1000n + 2n + BigInt(li('a0', 50).length) + 2n);
    expect(m.x('a5')).toBe(0n);
  });

  it('debug triggers: none, reported as tdata1 type 0 rather than by trapping', async () => {
    const m = await runProgram([
      li('a0', 5),
      csrw('tselect', 'a0'),
      csrr('a1', 'tselect'),
      csrr('a2', 'tdata1'),
      csrr('a3', 'tinfo'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0n);
    expect(m.x('a2') >> 60n).toBe(0n);
    expect(m.x('a3')).toBe(1n);
  });

  it('time reads mtime as the host keeps it', async () => {
    const m = await Machine.boot([csrr('a0', 'time'), ebreak()]);
    m.hart.mtime = 123_456_789n;
    m.runToEbreak();
    expect(m.x('a0')).toBe(123_456_789n);
  });

  it('hpmcounter3..31 and mhpmcounter3..31 read 0; mhpmevent writes are ignored', async () => {
    const m = await runProgram([
      li('a0', 9),
      li('a1', 9),
      li('a2', 9),
      csrr('a0', 'hpmcounter3'),
      csrr('a1', 'mhpmcounter31'),
      li('t0', 5),
      csrw('mhpmevent3', 't0'),
      csrr('a2', 'mhpmevent3'),
      ebreak(),
    ]);
    expect([m.x('a0'), m.x('a1'), m.x('a2')]).toEqual([0n, 0n, 0n]);
  });

  // §3.1.11/§4.1.5: below M a counter needs its mcounteren bit; in U also its scounteren bit.
  it.each([
    ['cycle', 0, PRIV_S, 0n, 0n, false],
    ['cycle', 0, PRIV_S, 1n, 0n, true],
    ['time', 1, PRIV_S, 0b010n, 0n, true],
    ['time', 1, PRIV_S, 0b101n, 0n, false],
    ['instret', 2, PRIV_U, 0b100n, 0n, false],
    ['instret', 2, PRIV_U, 0n, 0b100n, false],
    ['instret', 2, PRIV_U, 0b100n, 0b100n, true],
    ['hpmcounter3', 3, PRIV_U, 0b1000n, 0b1000n, true],
    ['hpmcounter3', 3, PRIV_S, 0b0111n, ALL_ONES, false],
  ] as const)(
    '%s (bit %i) in mode %i with mcounteren=%s scounteren=%s: allowed=%s',
    async (name, _bit, priv, mcounteren, scounteren, allowed) => {
      const m = await Machine.create();
      const insn = csrr('a0', name);
      m.boot([insn, ebreak()], { priv });
      m.setCsr('mcounteren', mcounteren);
      m.setCsr('scounteren', scounteren);
      const r = m.runToHalt();
      if (allowed) {
        expect(r.trap?.cause).toBe(CAUSE.breakpoint);
      } else {
        expect(r.trap).toEqual({ level: 'M', cause: CAUSE.illegalInstruction, epc: CODE, tval: BigInt(insn) });
      }
    },
  );
});

describe('satp', () => {
  it('accepts Bare, Sv39 and Sv48 with a 16-bit ASID and a 44-bit PPN', async () => {
    const sv39 = (8n << 60n) | (0xffffn << 44n) | 0xfff_ffff_ffffn;
    const sv48 = (9n << 60n) | (0x1234n << 44n) | 0x8_0000n;
    const m = await runProgram([
      li('a0', sv39),
      csrw('satp', 'a0'),
      csrr('a1', 'satp'),
      li('a0', sv48),
      csrw('satp', 'a0'),
      csrr('a2', 'satp'),
      csrw('satp', 0),
      csrr('a3', 'satp'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(sv39);
    expect(m.x('a2')).toBe(sv48);
    expect(m.x('a3')).toBe(0n);
  });

  it.each([1n, 7n, 10n, 11n, 15n])('a write with unsupported MODE %s has no effect at all', async (mode) => {
    const sv39 = (8n << 60n) | 0x8_0000n;
    const m = await runProgram([
      li('a0', sv39),
      csrw('satp', 'a0'),
      li('a0', (mode << 60n) | 0x1234n),
      csrw('satp', 'a0'),
      csrr('a1', 'satp'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(sv39);
  });

  it('sfence.vma is illegal in U', async () => {
    await expectIllegal([], A.sfence_vma(), PRIV_U);
  });

  it('is illegal in S when mstatus.TVM = 1, and so is sfence.vma', async () => {
    const m1 = await Machine.create();
    m1.boot([csrr('a0', 'satp'), ebreak()], { priv: PRIV_S });
    m1.setCsr('mstatus', m1.csr('mstatus') | (1n << 20n));
    expect(m1.runToTrap()).toMatchObject({ cause: CAUSE.illegalInstruction, epc: CODE });
    const m2 = await Machine.create();
    m2.boot([A.sfence_vma(), ebreak()], { priv: PRIV_S });
    m2.setCsr('mstatus', m2.csr('mstatus') | (1n << 20n));
    expect(m2.runToTrap()).toMatchObject({ cause: CAUSE.illegalInstruction, epc: CODE });
    // Without TVM both are fine in S.
    const m3 = await Machine.boot([csrr('a0', 'satp'), A.sfence_vma(), ebreak()], { priv: PRIV_S });
    expect(m3.runToTrap().cause).toBe(CAUSE.breakpoint);
  });
});

describe('delegation and interrupt-enable masks', () => {
  it('mip: M-mode software may write SSIP, STIP, SEIP only', async () => {
    const m = await runProgram([
      li('a0', ALL_ONES),
      csrw('mip', 'a0'),
      csrr('a1', 'mip'),
      csrw('mip', 0),
      csrr('a2', 'mip'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x222n);
    expect(m.x('a2')).toBe(0n);
  });

  it('sie and sip show and write only delegated bits; sip writes only SSIP', async () => {
    const m = await runProgram([
      li('a0', 0x20n),
      csrw('mideleg', 'a0'), // STI only
      li('a0', ALL_ONES),
      csrw('sie', 'a0'),
      csrr('a1', 'sie'),
      csrr('a2', 'mie'),
      li('a0', 0x22n),
      csrw('mideleg', 'a0'), // + SSI
      li('a0', ALL_ONES),
      csrw('sip', 'a0'),
      csrr('a3', 'sip'),
      csrr('a4', 'mip'),
      li('a0', 0x200n),
      csrw('mip', 'a0'),
      csrr('a5', 'sip'), // SEIP set but not delegated: hidden
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x20n);
    expect(m.x('a2')).toBe(0x20n);
    expect(m.x('a3')).toBe(0x2n);
    expect(m.x('a4')).toBe(0x2n);
    expect(m.x('a5')).toBe(0n);
  });

  it('mtvec and stvec keep modes 0 and 1; a reserved mode is not stored', async () => {
    const m = await runProgram([
      li('a0', 0x8000_0101n),
      csrw('mtvec', 'a0'),
      csrr('a1', 'mtvec'),
      li('a0', 0x8000_0202n),
      csrw('stvec', 'a0'),
      csrr('a2', 'stvec'),
      li('a0', M_TRAP),
      csrw('mtvec', 'a0'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x8000_0101n);
    expect(m.x('a2') & 3n).toBeLessThan(2n);
  });
});

describe('PMP configuration (§3.7.1)', () => {
  it('pmpcfg0 and pmpcfg2 hold 8 entries each; odd pmpcfg numbers are illegal on RV64', async () => {
    const m = await runProgram([
      li('a0', 0x1d19_0f0d_0c0b_0908n),
      csrw('pmpcfg0', 'a0'),
      csrr('a1', 'pmpcfg0'),
      li('a0', 0x1f19_1b18_1110_0100n),
      csrw('pmpcfg2', 'a0'),
      csrr('a2', 'pmpcfg2'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x1d19_0f0d_0c0b_0908n);
    expect(m.x('a2')).toBe(0x1f19_1b18_1110_0100n);
    await expectIllegal([], csrr('a0', 'pmpcfg1'));
    await expectIllegal([], csrw('pmpcfg3', 'a0'));
  });

  it('the reserved bits 6:5 read 0 and R=0 W=1 is not kept', async () => {
    const m = await runProgram([
      li('a0', 0x62n | (0x06n << 8n)),
      csrw('pmpcfg0', 'a0'),
      csrr('a1', 'pmpcfg0'),
      ebreak(),
    ]);
    const cfg0 = m.x('a1') & 0xffn;
    const cfg1 = (m.x('a1') >> 8n) & 0xffn;
    expect(cfg0 & 0x60n).toBe(0n);
    expect(cfg0 & 3n).not.toBe(2n);
    expect(cfg1 & 3n).not.toBe(2n);
  });

  it('a locked entry ignores writes to its cfg and address, and a locked TOR entry protects the address below', async () => {
    // entry 1: L | TOR | R (0x89); entry 2: unlocked NAPOT RW (0x1b)
    const m = await runProgram([
      li('a0', 0x1000),
      csrw('pmpaddr0', 'a0'),
      li('a0', 0x2000),
      csrw('pmpaddr1', 'a0'),
      li('a0', 0x1b_89_00n),
      csrw('pmpcfg0', 'a0'),
      li('a0', 0x1f_1f_1fn),
      csrw('pmpcfg0', 'a0'),
      csrr('a1', 'pmpcfg0'),
      li('a0', 0x5555),
      csrw('pmpaddr0', 'a0'),
      csrw('pmpaddr1', 'a0'),
      csrw('pmpaddr2', 'a0'),
      csrr('a2', 'pmpaddr0'),
      csrr('a3', 'pmpaddr1'),
      csrr('a4', 'pmpaddr2'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0x1f_89_1fn);
    expect(m.x('a2')).toBe(0x1000n);
    expect(m.x('a3')).toBe(0x2000n);
    expect(m.x('a4')).toBe(0x5555n);
  });

  it('a locked entry binds M-mode too', async () => {
    // entry 0: NA4... use NAPOT over the 4 KiB page at DATA, locked, read-only.
    const napot = (DATA >> 2n) | ((0x1000n >> 3n) - 1n);
    const m = await Machine.boot([
      li('a0', napot),
      csrw('pmpaddr0', 'a0'),
      li('a0', 0x99n),
      csrw('pmpcfg0', 'a0'),
      li('s0', DATA),
      A.ld('a1', 's0', 8),
      A.sd('a1', 's0', 8),
      ebreak(),
    ]);
    m.write64(DATA + 8n, 42n);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.storeAccess);
    expect(trap.tval).toBe(DATA + 8n);
    expect(m.x('a1')).toBe(42n);
  });
});

describe('the value a CSR reads after a write (WARL fields, read-only bits)', () => {
  it.each<[string, string, bigint, bigint]>([
    // Registers that hold whatever is written.
    ['sscratch holds 64 bits', 'sscratch', ALL_ONES - 4n, ALL_ONES - 4n],
    ['mscratch holds 64 bits', 'mscratch', ALL_ONES - 4n, ALL_ONES - 4n],
    ['mtval holds 64 bits', 'mtval', ALL_ONES - 4n, ALL_ONES - 4n],
    ['stval holds 64 bits', 'stval', ALL_ONES - 4n, ALL_ONES - 4n],
    ['mcause holds 64 bits', 'mcause', ALL_ONES - 4n, ALL_ONES - 4n],
    // IALIGN = 16: bit 0 of xepc is always zero.
    ['sepc ignores bit 0', 'sepc', 0x8000_0003n, 0x8000_0002n],
    ['mepc ignores bit 0', 'mepc', 0x8000_0003n, 0x8000_0002n],
    // Causes 0-9, 12, 13, 15 (§3.1.8: "medeleg[11] is read-only zero"; 10 and 14 are reserved).
    ['medeleg: every exception but ecall-from-M and the reserved causes', 'medeleg', ALL_ONES, 0b1011_0011_1111_1111n],
    ['mideleg: the supervisor interrupts SSI, STI, SEI', 'mideleg', ALL_ONES, 0x222n],
    ['mie holds the six standard interrupt enables', 'mie', ALL_ONES, 0xaaan],
    ['mcounteren is 32 bits wide', 'mcounteren', ALL_ONES, 0xffff_ffffn],
    ['scounteren is 32 bits wide', 'scounteren', ALL_ONES, 0xffff_ffffn],
    ['menvcfg implements FIOM only', 'menvcfg', ALL_ONES, 1n],
    ['senvcfg implements FIOM only', 'senvcfg', ALL_ONES, 1n],
    ['pmpaddr0 holds 54 bits', 'pmpaddr0', ALL_ONES, (1n << 54n) - 1n],
    ['pmpaddr15 holds 54 bits', 'pmpaddr15', ALL_ONES, (1n << 54n) - 1n],
    ['pmpaddr16 (entries 16..63) reads 0', 'pmpaddr16', ALL_ONES, 0n],
    ['pmpcfg4 (entries 16..63) reads 0', 'pmpcfg4', ALL_ONES, 0n],
  ])('%s', async (_what, csr, written, read) => {
    // The read comes right after the write, before the ebreak overwrites mepc, mcause and mtval.
    const m = await runProgram([li('a0', written), csrw(csr, 'a0'), csrr('a1', csr), ebreak()]);
    expect(m.x('a1')).toBe(read);
  });
});

describe('every CSR number (0x000–0xfff) in M, S and U', () => {
  // The CSRs this hart implements (privileged spec 1.12 tables 2.2–2.5, unprivileged F and Zicntr);
  // everything else is illegal to read or write.
  const IMPLEMENTED = new Set<number>();
  const range = (first: number, last: number, step = 1): void => {
    for (let n = first; n <= last; n += step) IMPLEMENTED.add(n);
  };
  range(0x001, 0x003); // fflags frm fcsr
  range(0xc00, 0xc1f); // cycle time instret hpmcounter3..31
  [0x100, 0x104, 0x105, 0x106, 0x10a].forEach((n) => IMPLEMENTED.add(n)); // sstatus sie stvec scounteren senvcfg
  range(0x140, 0x144); // sscratch sepc scause stval sip
  IMPLEMENTED.add(0x180); // satp
  range(0xf11, 0xf15); // mvendorid marchid mimpid mhartid mconfigptr
  range(0x300, 0x306); // mstatus misa medeleg mideleg mie mtvec mcounteren
  IMPLEMENTED.add(0x30a); // menvcfg
  IMPLEMENTED.add(0x320); // mcountinhibit
  range(0x323, 0x33f); // mhpmevent3..31
  range(0x340, 0x344); // mscratch mepc mcause mtval mip
  range(0x3a0, 0x3ae, 2); // pmpcfg0..14 (even only on RV64)
  range(0x3b0, 0x3ef); // pmpaddr0..63
  range(0x7a0, 0x7a4); // tselect tdata1..3 tinfo
  IMPLEMENTED.add(0xb00); // mcycle
  range(0xb02, 0xb1f); // minstret mhpmcounter3..31

  interface Setting {
    readonly fs: boolean;
    readonly mcounteren: bigint;
    readonly scounteren: bigint;
    readonly tvm: boolean;
  }

  /** The spec's rules: exists, privilege ≥ bits 9:8, then FS, counter enables and TVM gate some CSRs. */
  function legal(num: number, priv: number, s: Setting): boolean {
    if (!IMPLEMENTED.has(num) || ((num >> 8) & 3) > priv) return false;
    if (num <= 0x003) return s.fs;
    if (num >= 0xc00 && num <= 0xc1f && priv < PRIV_M) {
      const bit = 1n << BigInt(num & 31);
      return (s.mcounteren & bit) !== 0n && (priv === PRIV_S || (s.scounteren & bit) !== 0n);
    }
    if (num === 0x180 && priv === PRIV_S) return !s.tvm;
    return true;
  }

  // Per CSR: read it (an illegal-instruction trap sets a1), store the result, then write the value read
  // back and record whether that trapped. The M handler steps over the instruction and returns to the
  // mode it came from; any other trap (the final ebreak) goes on to the harness's M_TRAP.
  const skip = [li('a1', 1), csrr('t6', 'mepc'), A.addi('t6', 't6', 4), csrw('mepc', 't6'), A.mret()];
  const handler = [
    csrr('t6', 'mcause'),
    li('t5', CAUSE.illegalInstruction),
    A.bne('t6', 't5', 4 + A.sizeOf(skip)),
    ...skip,
    li('t5', M_TRAP),
    A.jalr(0, 't5'),
  ];
  const HANDLER = DATA - 0x100n;
  const probe = (num: number): Item[] => [
    li('a1', 0),
    csrr('a0', num),
    A.sd('a1', 's0', 0),
    li('a1', 0),
    csrrw(0, num, 'a0'),
    A.sd('a1', 's0', 8),
    A.addi('s0', 's0', 16),
  ];
  const NUMBERS = [...Array(0x1000).keys()];

  it.each([
    [PRIV_M, { fs: false, mcounteren: 0n, scounteren: 0n, tvm: false }],
    [PRIV_S, { fs: false, mcounteren: 0n, scounteren: 0n, tvm: false }],
    [PRIV_U, { fs: false, mcounteren: 0n, scounteren: 0n, tvm: false }],
    [PRIV_M, { fs: true, mcounteren: 0x8000_0005n, scounteren: 0x8000_0001n, tvm: true }],
    [PRIV_S, { fs: true, mcounteren: 0x8000_0005n, scounteren: 0x8000_0001n, tvm: true }],
    [PRIV_U, { fs: true, mcounteren: 0x8000_0005n, scounteren: 0x8000_0001n, tvm: true }],
  ])('privilege %i with %o: reads and writes are legal exactly as the spec says', async (priv, s) => {
    const m = await Machine.boot([li('s0', DATA), ...NUMBERS.map(probe), ebreak()], { priv });
    m.place(HANDLER, handler);
    m.setCsr('mtvec', HANDLER);
    m.setCsr('mcounteren', s.mcounteren);
    m.setCsr('scounteren', s.scounteren);
    m.setCsr('mstatus', m.csr('mstatus') | (s.fs ? 1n << 13n : 0n) | (s.tvm ? 1n << 20n : 0n));
    m.runToEbreak(1_000_000);
    const got: string[] = [];
    const want: string[] = [];
    for (const num of NUMBERS) {
      const readTrapped = m.read64(DATA + BigInt(num) * 16n) !== 0n;
      const writeTrapped = m.read64(DATA + BigInt(num) * 16n + 8n) !== 0n;
      got.push(`${num.toString(16)}: read ${readTrapped ? 'illegal' : 'ok'}, write ${writeTrapped ? 'illegal' : 'ok'}`);
      const ok = legal(num, priv, s);
      // Writable unless bits 11:10 say read-only; tinfo is read-only (debug spec 1.0, "Trigger Info").
      const writable = ok && num >> 10 !== 3 && num !== 0x7a4;
      want.push(`${num.toString(16)}: read ${ok ? 'ok' : 'illegal'}, write ${writable ? 'ok' : 'illegal'}`);
    }
    expect(got).toEqual(want);
  });
});
