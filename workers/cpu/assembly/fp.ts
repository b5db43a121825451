// The F and D instructions (unprivileged spec ch. 11–12): decoding, NaN-boxing, rounding-mode
// resolution and fflags accumulation. The arithmetic itself is in fpu.ts. Both formats share one
// decoder, generic over the type of a value's raw bits: u32 for S, u64 for D.
import { FCSR } from '../layout';
import { getX, setX, getF, setF, csrField, setCsrField } from './state';
import { markFpDirty } from './csr';
import { trapped, read32, read64, write32, write64 } from './mmu';
import * as fpu from './fpu';

const BOX: u64 = 0xffff_ffff_0000_0000;
const F32_CANONICAL_NAN: u32 = 0x7fc0_0000;

/**
 * An operand of format T. A single-precision one: "if the value is not a valid NaN-boxed value, it is
 * treated as the canonical NaN" (§12.2) — the upper 32 bits must all be 1.
 */
@inline function operand<T>(r: u32): T {
  const v = getF(r);
  if (sizeof<T>() == 8) return <T>v;
  return <T>((v & BOX) == BOX ? <u32>v : F32_CANONICAL_NAN);
}
/** Write a result of format T; a single-precision one is NaN-boxed. */
@inline function setResult<T>(r: u32, v: T): void {
  setF(r, sizeof<T>() == 8 ? <u64>v : BOX | <u64>v);
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
    if (!trapped) setResult<u32>(rd, v);
    return true;
  }
  if (funct3 == 3) {
    const v = read64(addr); // fld
    if (!trapped) setResult<u64>(rd, v);
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
  const fmt = (insn >> 25) & 3;
  const rm = roundingMode((insn >> 12) & 7);
  if (rm == 0xff || fmt > 1) return false;
  if (fmt == 0) fusedMultiplyAdd<u32>(insn, rm);
  else fusedMultiplyAdd<u64>(insn, rm);
  accrueFlags();
  return true;
}

@inline function fusedMultiplyAdd<T>(insn: u32, rm: u32): void {
  const op = (insn >> 2) & 3; // 0 fmadd, 1 fmsub, 2 fnmsub, 3 fnmadd
  // fmsub = a*b - c, fnmsub = -(a*b) + c, fnmadd = -(a*b) - c: flip the signs of the operands. NaN
  // results are canonical whatever the operand signs, so flipping a NaN's sign changes nothing.
  const a = operand<T>((insn >> 15) & 31) ^ (op >= 2 ? fpu.signBit<T>() : 0);
  const c = operand<T>(insn >> 27) ^ (op == 1 || op == 3 ? fpu.signBit<T>() : 0);
  setResult<T>((insn >> 7) & 31, fpu.fma<T>(a, operand<T>((insn >> 20) & 31), c, rm));
}

/** OP-FP (0x53). Returns false for an illegal encoding. */
export function executeFp(insn: u32): bool {
  const fmt = (insn >> 25) & 3;
  if (fmt > 1) return false;
  const legal = fmt == 0 ? executeFpFormat<u32>(insn) : executeFpFormat<u64>(insn);
  if (legal) accrueFlags();
  return legal;
}

/** OP-FP in format T. Returns false for an illegal encoding. */
@inline function executeFpFormat<T>(insn: u32): bool {
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const funct3 = (insn >> 12) & 7;
  const funct7 = insn >> 25;
  switch (funct7 >> 2) {
    case 0x00: // fadd
    case 0x01: // fsub
    case 0x02: // fmul
    case 0x03: {
      // fdiv
      const rm = roundingMode(funct3);
      if (rm == 0xff) return false;
      const kind = funct7 >> 2;
      const a = operand<T>(rs1);
      const b = operand<T>(rs2);
      let r: T;
      if (kind == 0) r = fpu.add<T>(a, b, rm);
      else if (kind == 1) r = fpu.sub<T>(a, b, rm);
      else if (kind == 2) r = fpu.mul<T>(a, b, rm);
      else r = fpu.div<T>(a, b, rm);
      setResult<T>(rd, r);
      return true;
    }
    case 0x0b: {
      // fsqrt
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 != 0) return false;
      setResult<T>(rd, fpu.sqrt<T>(operand<T>(rs1), rm));
      return true;
    }
    case 0x04: {
      // fsgnj fsgnjn fsgnjx: no flags
      if (funct3 > 2) return false;
      const a = operand<T>(rs1);
      const b = operand<T>(rs2);
      const sign = funct3 == 0 ? b : funct3 == 1 ? ~b : a ^ b;
      setResult<T>(rd, (a & ~fpu.signBit<T>()) | (sign & fpu.signBit<T>()));
      return true;
    }
    case 0x05: {
      // fmin fmax
      if (funct3 > 1) return false;
      const a = operand<T>(rs1);
      const b = operand<T>(rs2);
      setResult<T>(rd, funct3 == 0 ? fpu.min<T>(a, b) : fpu.max<T>(a, b));
      return true;
    }
    case 0x08: {
      // fcvt.s.d (fmt S, rs2 = 1) and fcvt.d.s (fmt D, rs2 = 0)
      const rm = roundingMode(funct3);
      if (rm == 0xff) return false;
      if (sizeof<T>() == 4 && rs2 == 1) setResult<u32>(rd, fpu.f64_to_f32(operand<u64>(rs1), rm));
      else if (sizeof<T>() == 8 && rs2 == 0) setResult<u64>(rd, fpu.f32_to_f64(operand<u32>(rs1)));
      else return false;
      return true;
    }
    case 0x14: {
      // fle flt feq
      if (funct3 > 2) return false;
      const a = operand<T>(rs1);
      const b = operand<T>(rs2);
      const r = funct3 == 0 ? fpu.le<T>(a, b) : funct3 == 1 ? fpu.lt<T>(a, b) : fpu.eq<T>(a, b);
      setX(rd, r ? 1 : 0);
      return true;
    }
    case 0x18: {
      // fcvt.w fcvt.wu fcvt.l fcvt.lu (to an integer register)
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 > 3) return false;
      setX(rd, fpu.toInteger<T>(operand<T>(rs1), rm, rs2));
      return true;
    }
    case 0x1a: {
      // fcvt.s/d.w fcvt.s/d.wu fcvt.s/d.l fcvt.s/d.lu (from an integer register)
      const rm = roundingMode(funct3);
      if (rm == 0xff || rs2 > 3) return false;
      setResult<T>(rd, fpu.fromInteger<T>(getX(rs1), rm, rs2));
      return true;
    }
    case 0x1c: {
      // fmv.x.w / fmv.x.d (funct3 0) and fclass (funct3 1)
      if (rs2 != 0) return false;
      if (funct3 == 0) {
        // fmv.x.w copies the raw low 32 bits, sign-extended, with no NaN-box check.
        setX(rd, sizeof<T>() == 4 ? sext32(<u32>getF(rs1)) : getF(rs1));
      } else if (funct3 == 1) {
        setX(rd, <u64>fpu.fclass<T>(operand<T>(rs1)));
      } else return false;
      return true;
    }
    case 0x1e: {
      // fmv.w.x / fmv.d.x
      if (rs2 != 0 || funct3 != 0) return false;
      setResult<T>(rd, <T>getX(rs1));
      return true;
    }
    default:
      return false;
  }
}
