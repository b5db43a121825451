// The F/D decoding layer on the CPU core (fp.ts; unprivileged spec ch. 11–12): mstatus.FS gating,
// NaN-boxing of single-precision values, raw moves, rounding-mode selection (static, dynamic, reserved),
// fflags accumulation and FS becoming Dirty. The arithmetic itself is fpu.ts's, tested in its own file;
// here a few operations only check that the decoder wires operands, rounding mode and flags through.
// Instruction words come from binutils 2.40 (`riscv64-linux-gnu-as`/`objdump`) where asm.ts has no encoder.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import { CAUSE, DATA, MSTATUS, Machine } from './test-support/machine.ts';

const { li, ebreak, csrr, csrw } = A;
const FS_INITIAL = 1n << 13n;
const BOX = 0xffff_ffff_0000_0000n;
const F32_ONE = 0x3f80_0000n;
const F64_ONE = 0x3ff0_0000_0000_0000n;
const F64_TWO = 0x4000_0000_0000_0000n;
const F64_THREE = 0x4008_0000_0000_0000n;
const F32_CANONICAL_NAN = 0x7fc0_0000n;

const FCVT_WU_D_A0_FA0_RTZ = 0xc215_1553;
const FCLASS_S_A0_FA1 = 0xe005_9553;
const FEQ_D_A0_FA0_FA1 = 0xa2b5_2553;
const FADD_D_RUP = 0x02c5_b553; // fadd.d fa0, fa1, fa2, rup
const FADD_D_RTZ = 0x02c5_9553; // fadd.d fa0, fa1, fa2, rtz
const FADD_D_DYN = 0x02c5_f553; // fadd.d fa0, fa1, fa2
const FADD_S_DYN = 0x00c5_f553; // fadd.s fa0, fa1, fa2
const FSGNJ_S_FA0_FA1_FA1 = 0x20b5_8553;
const FDIV_D_DYN = 0x1ac5_f553; // fdiv.d fa0, fa1, fa2
const FMADD_D_DYN = 0x6ac5_f543; // fmadd.d fa0, fa1, fa2, fa3

/** The binary64 bits of a JS number. */
const f64bits = (x: number): bigint => {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0);
};

const FA0 = 10;
const FA1 = 11;
const FA2 = 12;
const FA3 = 13;

/** Boots `code` in M with mstatus.FS = Initial (unless `fs` says otherwise). */
async function fpMachine(code: Item[], fs = FS_INITIAL): Promise<Machine> {
  const m = await Machine.boot([...code, ebreak()]);
  m.setCsr('mstatus', m.csr('mstatus') | fs);
  return m;
}

describe('mstatus.FS = Off makes every F/D instruction illegal', () => {
  it.each([
    ['flw', A.flw(FA0, 'a0', 0)],
    ['fsd', A.fsd(FA0, 'a0', 0)],
    ['fmv.d.x', A.fmv_d_x(FA0, 'a0')],
    ['fadd.d', FADD_D_DYN],
    ['fmadd.d', FMADD_D_DYN],
  ])('%s', async (_n, insn) => {
    const m = await fpMachine([li('a0', DATA), insn], 0n);
    const trap = m.runToTrap();
    expect(trap).toMatchObject({ cause: CAUSE.illegalInstruction, tval: BigInt(insn) });
  });
});

describe('loads, stores and moves', () => {
  it('flw NaN-boxes; fld loads 64 bits; fsw stores the low 32 bits of any register', async () => {
    const m = await fpMachine([
      li('a0', DATA),
      A.flw(FA0, 'a0', 0),
      A.fld(FA1, 'a0', 8),
      A.fsw(FA1, 'a0', 16),
      A.fsd(FA0, 'a0', 24),
    ]);
    m.write32(DATA, F32_ONE);
    m.write64(DATA + 8n, 0x1122_3344_5566_7788n);
    m.runToEbreak();
    expect(m.f(FA0)).toBe(BOX | F32_ONE);
    expect(m.f(FA1)).toBe(0x1122_3344_5566_7788n);
    expect(m.read64(DATA + 16n)).toBe(0x5566_7788n);
    expect(m.read64(DATA + 24n)).toBe(BOX | F32_ONE);
  });

  it('fmv.x.w sign-extends the raw low word without a NaN-box check; fmv.w.x boxes', async () => {
    const m = await fpMachine([A.fmv_x_w('a0', FA0), li('a1', 0x1234_5678_8000_0001n), A.fmv_w_x(FA1, 'a1')]);
    m.setF(FA0, 0x0000_0000_8000_0000n); // not a valid box
    m.runToEbreak();
    expect(m.x('a0')).toBe(0xffff_ffff_8000_0000n);
    expect(m.f(FA1)).toBe(BOX | 0x8000_0001n);
  });

  it('fmv.x.d and fmv.d.x move 64 raw bits', async () => {
    const m = await fpMachine([A.fmv_x_d('a0', FA0), li('a1', 0x7ff8_dead_beef_0001n), A.fmv_d_x(FA1, 'a1')]);
    m.setF(FA0, 0xfff0_0000_0000_0001n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0xfff0_0000_0000_0001n);
    expect(m.f(FA1)).toBe(0x7ff8_dead_beef_0001n);
  });

  it('an improperly boxed single operand is the canonical NaN', async () => {
    const m = await fpMachine([FSGNJ_S_FA0_FA1_FA1, FCLASS_S_A0_FA1]);
    m.setF(FA1, F32_ONE); // upper half not all ones
    m.runToEbreak();
    expect(m.f(FA0)).toBe(BOX | F32_CANONICAL_NAN);
    expect(m.x('a0')).toBe(1n << 9n); // fclass: quiet NaN
  });

  it('sign injection', async () => {
    const m = await fpMachine([A.fsgnj_d(FA0, FA1, FA2), A.fsgnjn_d(FA3, FA1, FA2), A.fsgnjx_d(4, FA2, FA2)]);
    m.setF(FA1, F64_ONE);
    m.setF(FA2, F64_TWO | (1n << 63n));
    m.runToEbreak();
    expect(m.f(FA0)).toBe(F64_ONE | (1n << 63n));
    expect(m.f(FA3)).toBe(F64_ONE);
    expect(m.f(4)).toBe(F64_TWO); // sign of (−)·(−) = +
  });

  it.each([
    ['flh (no Zfh)', 0x0005_1507], // opcode LOAD-FP, funct3 1
    ['fsh (no Zfh)', 0x00a5_1027], // opcode STORE-FP, funct3 1
    ['LOAD-FP funct3 5', 0x0005_5507],
    ['fadd.h (fmt 2)', 0x04c5_f553],
    ['fadd.q (fmt 3)', 0x06c5_f553],
  ])('%s is illegal', async (_n, insn) => {
    const m = await fpMachine([li('a0', DATA), insn]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.illegalInstruction, tval: BigInt(insn) });
  });
});

describe('rounding modes and flags', () => {
  const TINY = 0x3c30_0000_0000_0000n; // 2^-60: 1 + 2^-60 is inexact in binary64

  it('an exact result raises no flag; an inexact one sets NX and accumulates', async () => {
    const m = await fpMachine([
      FADD_D_DYN,
      csrr('a0', 'fflags'),
      A.fmv_d_x(FA2, 'a2'),
      FADD_D_DYN,
      csrr('a1', 'fflags'),
      A.fmv_d_x(FA2, 'a3'),
      FADD_D_DYN,
      csrr('a4', 'fflags'),
    ]);
    m.setF(FA1, F64_ONE);
    m.setF(FA2, F64_TWO);
    m.setX('a2', TINY);
    m.setX('a3', F64_TWO);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0n);
    expect(m.x('a1')).toBe(1n);
    expect(m.x('a4')).toBe(1n); // sticky: the exact add after it did not clear NX
    expect(m.f(FA0)).toBe(F64_THREE);
  });

  it('the static rounding mode in the instruction wins over frm', async () => {
    const m = await fpMachine([
      li('t0', 1),
      csrw('frm', 't0'),
      FADD_D_RUP,
      A.fmv_x_d('a0', FA0),
      FADD_D_RTZ,
      A.fmv_x_d('a1', FA0),
    ]);
    m.setF(FA1, F64_ONE);
    m.setF(FA2, TINY);
    m.runToEbreak();
    expect(m.x('a0')).toBe(F64_ONE + 1n); // rounded up to the next double
    expect(m.x('a1')).toBe(F64_ONE);
  });

  it('the dynamic rounding mode reads frm', async () => {
    const m = await fpMachine([li('t0', 3), csrw('frm', 't0'), FADD_D_DYN, A.fmv_x_d('a0', FA0)]);
    m.setF(FA1, F64_ONE);
    m.setF(FA2, TINY);
    m.runToEbreak();
    expect(m.x('a0')).toBe(F64_ONE + 1n);
  });

  it.each([5, 6, 7])('a dynamic rounding mode with frm = %i is illegal', async (frm) => {
    const m = await fpMachine([li('t0', frm), csrw('frm', 't0'), FADD_D_DYN]);
    const trap = m.runToTrap();
    expect(trap).toMatchObject({ cause: CAUSE.illegalInstruction, tval: BigInt(FADD_D_DYN) });
  });

  it.each([5, 6])('the reserved static rounding mode %i is illegal', async (rm) => {
    const insn = (FADD_D_DYN & ~0x7000) | (rm << 12);
    const m = await fpMachine([insn]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.illegalInstruction, tval: BigInt(insn) });
  });

  it('division by zero sets DZ', async () => {
    const m = await fpMachine([FDIV_D_DYN, csrr('a0', 'fflags')]);
    m.setF(FA1, F64_ONE);
    m.setF(FA2, 0n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x08n);
    expect(m.f(FA0)).toBe(0x7ff0_0000_0000_0000n);
  });

  it('fadd.s boxes its result', async () => {
    const m = await fpMachine([FADD_S_DYN]);
    m.setF(FA1, BOX | F32_ONE);
    m.setF(FA2, BOX | F32_ONE);
    m.runToEbreak();
    expect(m.f(FA0)).toBe(BOX | 0x4000_0000n);
  });

  it('fmadd.d rounds once', async () => {
    // (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; rounding the product first would give 0.
    const m = await fpMachine([FMADD_D_DYN, csrr('a0', 'fflags')]);
    m.setF(FA1, f64bits(1 + 2 ** -30));
    m.setF(FA2, f64bits(1 - 2 ** -30));
    m.setF(FA3, f64bits(-1));
    m.runToEbreak();
    expect(m.f(FA0)).toBe(f64bits(-(2 ** -60)));
    expect(m.x('a0')).toBe(0n);
  });
});

describe('integer results', () => {
  it('fcvt.wu.d sign-extends its 32-bit result on RV64', async () => {
    const m = await fpMachine([FCVT_WU_D_A0_FA0_RTZ]);
    m.setF(FA0, f64bits(3e9));
    m.runToEbreak();
    expect(m.x('a0')).toBe(0xffff_ffff_b2d0_5e00n);
  });

  it('feq.d writes 0 or 1 to an integer register', async () => {
    const m = await fpMachine([FEQ_D_A0_FA0_FA1, A.mv('a1', 'a0'), A.fmv_d_x(FA1, 'a2'), FEQ_D_A0_FA0_FA1]);
    m.setF(FA0, F64_ONE);
    m.setF(FA1, F64_ONE);
    m.setX('a2', F64_TWO);
    m.runToEbreak();
    expect(m.x('a1')).toBe(1n);
    expect(m.x('a0')).toBe(0n);
  });
});

describe('mstatus.FS and SD', () => {
  it('an instruction that writes an f register or fflags makes FS Dirty and sets SD', async () => {
    const m = await fpMachine([csrr('a0', 'mstatus'), A.fmv_d_x(FA0, 'zero'), csrr('a1', 'mstatus')]);
    m.runToEbreak();
    expect(m.x('a0') & (MSTATUS.FS | (1n << 63n))).toBe(FS_INITIAL);
    expect(m.x('a1') & (MSTATUS.FS | (1n << 63n))).toBe(MSTATUS.FS | (1n << 63n));
  });

  it('a store from an f register leaves FS as it was', async () => {
    const m = await fpMachine([li('a0', DATA), A.fsd(FA0, 'a0', 0), csrr('a1', 'mstatus')]);
    m.runToEbreak();
    expect(m.x('a1') & MSTATUS.FS).toBe(FS_INITIAL);
  });
});
