// The F and D instructions (unprivileged spec ch. 11–12): decoding, NaN-boxing, rounding-mode
// resolution and fflags accumulation. The arithmetic itself is in fpu.ts.
import { FCSR } from '../layout';
import { getX, setX, getF, setF, csrField, setCsrField } from './state';
import { markFpDirty } from './csr';
import { trapped, read32, read64, write32, write64 } from './mmu';
import * as fpu from './fpu';

const BOX: u64 = 0xffff_ffff_0000_0000;
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;

/**
 * A single-precision operand: "if the value is not a valid NaN-boxed value, it is treated as the
 * canonical NaN" (§12.2) — the upper 32 bits must all be 1.
 */
@inline function f32Operand(r: u32): u32 {
  const v = getF(r);
  return (v & BOX) == BOX ? <u32>v : F32_CANONICAL_NAN;
}
@inline function setF32(r: u32, v: u32): void {
  setF(r, BOX | <u64>v);
  markFpDirty();
}
@inline function setF64(r: u32, v: u64): void {
  setF(r, v);
  markFpDirty();
}

/** The rounding mode for an instruction's rm field, or 0xff when it is reserved (illegal). */
@inline function roundingMode(rm: u32): u32 {
  // rm = 7 selects the dynamic mode in frm; frm values 5–7 are reserved, as are rm 5 and 6.
  const mode = rm == 7 ? <u32>(csrField(FCSR) >> 5) & 7 : rm;
  return mode > 4 ? 0xff : mode;
}

/** Fold the flags the last operation raised into fcsr.fflags. */
@inline function accrueFlags(): void {
  const f = fpu.fflags;
  if (f != 0) {
    setCsrField(FCSR, csrField(FCSR) | <u64>f);
    fpu.fflags = 0;
    markFpDirty();
  }
}

@inline function sext32(v: u32): u64 {
  return <u64>(<i64>(<i32>v));
}

export function executeFpLoad(insn: u32, rd: u32, base: u64): bool {
  const addr = base + <u64>(<i64>(<i32>insn >> 20));
  const funct3 = (insn >> 12) & 7;
  if (funct3 == 2) {
    const v = read32(addr); // flw
    if (!trapped) setF32(rd, v);
    return true;
  }
  if (funct3 == 3) {
    const v = read64(addr); // fld
    if (!trapped) setF64(rd, v);
    return true;
  }
  return false;
}

export function executeFpStore(insn: u32, rs2: u32, base: u64): bool {
  const imm = ((<i32>insn >> 20) & ~31) | <i32>((insn >> 7) & 31);
  const addr = base + <u64>(<i64>imm);
  const funct3 = (insn >> 12) & 7;
  // fsw stores the low 32 bits whatever the boxing ("FSW ... store the bits unmodified").
  if (funct3 == 2) write32(addr, <u32>getF(rs2));
  else if (funct3 == 3) write64(addr, getF(rs2));
  else return false;
  return true;
}

/** FMADD/FMSUB/FNMSUB/FNMADD (R4-type). Returns false for an illegal encoding. */
export function executeFma(insn: u32): bool {
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const rs3 = insn >> 27;
  const fmt = (insn >> 25) & 3;
  const rm = roundingMode((insn >> 12) & 7);
  if (rm == 0xff || fmt > 1) return false;
  const op = (insn >> 2) & 3; // 0 fmadd, 1 fmsub, 2 fnmsub, 3 fnmadd
  // fmsub = a*b - c, fnmsub = -(a*b) + c, fnmadd = -(a*b) - c: flip the signs of the operands. NaN
  // results are canonical whatever the operand signs, so flipping a NaN's sign changes nothing.
  const negProduct = op >= 2;
  const negAddend = op == 1 || op == 3;
  if (fmt == 0) {
    const a = f32Operand(rs1) ^ (negProduct ? 0x8000_0000 : 0);
    const c = f32Operand(rs3) ^ (negAddend ? 0x8000_0000 : 0);
    setF32(rd, fpu.f32_fma(a, f32Operand(rs2), c, rm));
  } else {
    const a = getF(rs1) ^ (negProduct ? 0x8000_0000_0000_0000 : 0);
    const c = getF(rs3) ^ (negAddend ? 0x8000_0000_0000_0000 : 0);
    setF64(rd, fpu.f64_fma(a, getF(rs2), c, rm));
  }
  accrueFlags();
  return true;
}

/** OP-FP (0x53). Returns false for an illegal encoding. */
export function executeFp(insn: u32): bool {
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const funct3 = (insn >> 12) & 7;
  const funct7 = insn >> 25;
  const fmt = funct7 & 3;
  if (fmt > 1) return false;
  const single = fmt == 0;
  switch (funct7 >> 2) {
    case 0x00: // fadd
    case 0x01: // fsub
    case 0x02: // fmul
    case 0x03: {
      // fdiv
      const rm = roundingMode(funct3);
      if (rm == 0xff) return false;
      const kind = funct7 >> 2;
      if (single) {
        const a = f32Operand(rs1);
        const b = f32Operand(rs2);
        let r: u32;
        if (kind == 0) r = fpu.f32_add(a, b, rm);
        else if (kind == 1) r = fpu.f32_sub(a, b, rm);
        else if (kind == 2) r = fpu.f32_mul(a, b, rm);
        else r = fpu.f32_div(a, b, rm);
        setF32(rd, r);
      } else {
        const a = getF(rs1);
        const b = getF(rs2);
        let r: u64;
        if (kind == 0) r = fpu.f64_add(a, b, rm);
        else if (kind == 1) r = fpu.f64_sub(a, b, rm);
        else if (kind == 2) r = fpu.f64_mul(a, b, rm);
        else r = fpu.f64_div(a, b, rm);
        setF64(rd, r);
      }
      break;
    }
    case 0x0b: {
      // fsqrt
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 != 0) return false;
      if (single) setF32(rd, fpu.f32_sqrt(f32Operand(rs1), rm));
      else setF64(rd, fpu.f64_sqrt(getF(rs1), rm));
      break;
    }
    case 0x04: {
      // fsgnj fsgnjn fsgnjx
      if (funct3 > 2) return false;
      if (single) {
        const a = f32Operand(rs1);
        const b = f32Operand(rs2);
        const sign = funct3 == 0 ? b : funct3 == 1 ? ~b : a ^ b;
        setF32(rd, (a & 0x7fff_ffff) | (sign & 0x8000_0000));
      } else {
        const a = getF(rs1);
        const b = getF(rs2);
        const sign = funct3 == 0 ? b : funct3 == 1 ? ~b : a ^ b;
        setF64(rd, (a & 0x7fff_ffff_ffff_ffff) | (sign & 0x8000_0000_0000_0000));
      }
      return true; // sign injection raises no flags
    }
    case 0x05: {
      // fmin fmax
      if (funct3 > 1) return false;
      if (single) {
        const a = f32Operand(rs1);
        const b = f32Operand(rs2);
        setF32(rd, funct3 == 0 ? fpu.f32_min(a, b) : fpu.f32_max(a, b));
      } else {
        setF64(rd, funct3 == 0 ? fpu.f64_min(getF(rs1), getF(rs2)) : fpu.f64_max(getF(rs1), getF(rs2)));
      }
      break;
    }
    case 0x08: {
      // fcvt.s.d (fmt S, rs2 = 1) and fcvt.d.s (fmt D, rs2 = 0)
      const rm = roundingMode(funct3);
      if (rm == 0xff) return false;
      if (single && rs2 == 1) setF32(rd, fpu.f64_to_f32(getF(rs1), rm));
      else if (!single && rs2 == 0) setF64(rd, fpu.f32_to_f64(f32Operand(rs1)));
      else return false;
      break;
    }
    case 0x14: {
      // fle flt feq
      if (funct3 > 2) return false;
      let r: bool;
      if (single) {
        const a = f32Operand(rs1);
        const b = f32Operand(rs2);
        r = funct3 == 0 ? fpu.f32_le(a, b) : funct3 == 1 ? fpu.f32_lt(a, b) : fpu.f32_eq(a, b);
      } else {
        const a = getF(rs1);
        const b = getF(rs2);
        r = funct3 == 0 ? fpu.f64_le(a, b) : funct3 == 1 ? fpu.f64_lt(a, b) : fpu.f64_eq(a, b);
      }
      setX(rd, r ? 1 : 0);
      break;
    }
    case 0x18: {
      // fcvt.w fcvt.wu fcvt.l fcvt.lu (to an integer register)
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 > 3) return false;
      let r: u64;
      if (single) {
        const a = f32Operand(rs1);
        if (rs2 == 0) r = sext32(<u32>fpu.f32_to_i32(a, rm));
        else if (rs2 == 1) r = sext32(fpu.f32_to_u32(a, rm)); // "FCVT.WU.S ... sign-extends" on RV64
        else if (rs2 == 2) r = <u64>fpu.f32_to_i64(a, rm);
        else r = fpu.f32_to_u64(a, rm);
      } else {
        const a = getF(rs1);
        if (rs2 == 0) r = sext32(<u32>fpu.f64_to_i32(a, rm));
        else if (rs2 == 1) r = sext32(fpu.f64_to_u32(a, rm));
        else if (rs2 == 2) r = <u64>fpu.f64_to_i64(a, rm);
        else r = fpu.f64_to_u64(a, rm);
      }
      setX(rd, r);
      break;
    }
    case 0x1a: {
      // fcvt.s/d.w fcvt.s/d.wu fcvt.s/d.l fcvt.s/d.lu (from an integer register)
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 > 3) return false;
      const x = getX(rs1);
      if (single) {
        let r: u32;
        if (rs2 == 0) r = fpu.i32_to_f32(<i32>x, rm);
        else if (rs2 == 1) r = fpu.u32_to_f32(<u32>x, rm);
        else if (rs2 == 2) r = fpu.i64_to_f32(<i64>x, rm);
        else r = fpu.u64_to_f32(x, rm);
        setF32(rd, r);
      } else {
        let r: u64;
        if (rs2 == 0) r = fpu.i32_to_f64(<i32>x, rm);
        else if (rs2 == 1) r = fpu.u32_to_f64(<u32>x, rm);
        else if (rs2 == 2) r = fpu.i64_to_f64(<i64>x, rm);
        else r = fpu.u64_to_f64(x, rm);
        setF64(rd, r);
      }
      break;
    }
    case 0x1c: {
      // fmv.x.w / fmv.x.d (funct3 0) and fclass (funct3 1)
      if (rs2 != 0) return false;
      if (funct3 == 0) {
        // fmv.x.w copies the raw low 32 bits, sign-extended, with no NaN-box check.
        setX(rd, single ? sext32(<u32>getF(rs1)) : getF(rs1));
      } else if (funct3 == 1) {
        setX(rd, <u64>(single ? fpu.f32_classify(f32Operand(rs1)) : fpu.f64_classify(getF(rs1))));
      } else return false;
      return true;
    }
    case 0x1e: {
      // fmv.w.x / fmv.d.x
      if (rs2 != 0 || funct3 != 0) return false;
      if (single) setF32(rd, <u32>getX(rs1));
      else setF64(rd, getX(rs1));
      return true;
    }
    default:
      return false;
  }
  accrueFlags();
  return true;
}
