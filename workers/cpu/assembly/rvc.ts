/**
 * RVC expansion for RV64GC: each 16-bit parcel becomes the 32-bit instruction it stands for, so the
 * interpreter (and a future JIT) decodes only one instruction format. Follows the "C" chapter of the
 * unprivileged spec (20191213, ch. 16, Tables 16.4–16.6 and the RVC instruction listing) for RV64 with
 * F and D: quadrant-0/2 funct3 011/111 are c.ld/c.sd/c.ldsp/c.sdsp (not c.flw/c.fsw), quadrant-1
 * funct3 001 is c.addiw (not c.jal).
 *
 * Returns 0 for an illegal or reserved parcel (0 is never a valid expansion: it is itself illegal);
 * the interpreter then raises illegal-instruction with tval = the parcel. HINT code points are legal
 * and expand to the base instruction that writes x0 (or shifts by 0), as the spec's HINT table says.
 *
 * Allocation-free: plain integer arithmetic only.
 */

// Major opcodes of the 32-bit encodings the parcels expand to.
const OP_LOAD: u32 = 0x03;
const OP_LOAD_FP: u32 = 0x07;
const OP_IMM: u32 = 0x13;
const OP_IMM_32: u32 = 0x1b;
const OP_STORE: u32 = 0x23;
const OP_STORE_FP: u32 = 0x27;
const OP_OP: u32 = 0x33;
const OP_LUI: u32 = 0x37;
const OP_OP_32: u32 = 0x3b;
const OP_BRANCH: u32 = 0x63;
const OP_JALR: u32 = 0x67;
const OP_JAL: u32 = 0x6f;
const INSN_EBREAK: u32 = 0x0010_0073;

const X0: u32 = 0;
const RA: u32 = 1;
const SP: u32 = 2;

// ---- field extraction -----------------------------------------------------------------------------

/** Bits hi..lo of c, shifted down. */
// @ts-ignore: decorator
@inline function bits(c: u32, hi: u32, lo: u32): u32 {
  return (c >> lo) & ((1 << (hi - lo + 1)) - 1);
}

/** Bits hi..lo of c, placed at bit `at` (how the scrambled immediates are reassembled). */
// @ts-ignore: decorator
@inline function field(c: u32, hi: u32, lo: u32, at: u32): u32 {
  return bits(c, hi, lo) << at;
}

/** Sign-extends the low `width` bits of v. */
// @ts-ignore: decorator
@inline function sext(v: u32, width: u32): u32 {
  const shift = 32 - width;
  return <u32>((<i32>(v << shift)) >> shift);
}

/** Full register number: bits 11:7 (rd / rs1) and 6:2 (rs2). */
// @ts-ignore: decorator
@inline function rdFull(c: u32): u32 {
  return bits(c, 11, 7);
}
// @ts-ignore: decorator
@inline function rs2Full(c: u32): u32 {
  return bits(c, 6, 2);
}
/** The 3-bit register fields name x8..x15 (or f8..f15): rd'/rs2' in bits 4:2, rs1'/rd' in bits 9:7. */
// @ts-ignore: decorator
@inline function rPrimeLow(c: u32): u32 {
  return 8 + bits(c, 4, 2);
}
// @ts-ignore: decorator
@inline function rPrimeHigh(c: u32): u32 {
  return 8 + bits(c, 9, 7);
}

// ---- scrambled immediates (Figures 16.x of the spec; comments give the bit order as printed there) --

/** CI format, 6-bit signed: imm[5] = c[12], imm[4:0] = c[6:2]. c.addi, c.addiw, c.li, c.andi, shifts. */
function immCI(c: u32): u32 {
  return sext(field(c, 12, 12, 5) | field(c, 6, 2, 0), 6);
}

/** c.addi4spn nzuimm[5:4|9:6|2|3] in c[12:5]. */
function immAddi4spn(c: u32): u32 {
  return field(c, 12, 11, 4) | field(c, 10, 7, 6) | field(c, 6, 6, 2) | field(c, 5, 5, 3);
}

/** c.lw/c.sw: uimm[5:3] in c[12:10], uimm[2|6] in c[6:5]. */
function immCLW(c: u32): u32 {
  return field(c, 12, 10, 3) | field(c, 6, 6, 2) | field(c, 5, 5, 6);
}

/** c.ld/c.sd/c.fld/c.fsd: uimm[5:3] in c[12:10], uimm[7:6] in c[6:5]. */
function immCLD(c: u32): u32 {
  return field(c, 12, 10, 3) | field(c, 6, 5, 6);
}

/** c.addi16sp nzimm[9] in c[12], nzimm[4|6|8:7|5] in c[6:2]; signed, multiple of 16. */
function immAddi16sp(c: u32): u32 {
  return sext(field(c, 12, 12, 9) | field(c, 6, 6, 4) | field(c, 5, 5, 6) | field(c, 4, 3, 7) | field(c, 2, 2, 5), 10);
}

/** c.lui nzimm[17] in c[12], nzimm[16:12] in c[6:2]; returned as the 20-bit U-type field. */
function immLui(c: u32): u32 {
  return sext(field(c, 12, 12, 5) | field(c, 6, 2, 0), 6) & 0xf_ffff;
}

/** CJ format offset[11|4|9:8|10|6|7|3:1|5] in c[12:2]; signed. */
function immCJ(c: u32): u32 {
  return sext(
    field(c, 12, 12, 11) | field(c, 11, 11, 4) | field(c, 10, 9, 8) | field(c, 8, 8, 10) |
      field(c, 7, 7, 6) | field(c, 6, 6, 7) | field(c, 5, 3, 1) | field(c, 2, 2, 5),
    12,
  );
}

/** CB branch offset[8|4:3] in c[12:10], offset[7:6|2:1|5] in c[6:2]; signed. */
function immCB(c: u32): u32 {
  return sext(field(c, 12, 12, 8) | field(c, 11, 10, 3) | field(c, 6, 5, 6) | field(c, 4, 3, 1) | field(c, 2, 2, 5), 9);
}

/** c.lwsp uimm[5] in c[12], uimm[4:2|7:6] in c[6:2]. */
function immLwsp(c: u32): u32 {
  return field(c, 12, 12, 5) | field(c, 6, 4, 2) | field(c, 3, 2, 6);
}

/** c.ldsp/c.fldsp uimm[5] in c[12], uimm[4:3|8:6] in c[6:2]. */
function immLdsp(c: u32): u32 {
  return field(c, 12, 12, 5) | field(c, 6, 5, 3) | field(c, 4, 2, 6);
}

/** c.swsp uimm[5:2|7:6] in c[12:7]. */
function immSwsp(c: u32): u32 {
  return field(c, 12, 9, 2) | field(c, 8, 7, 6);
}

/** c.sdsp/c.fsdsp uimm[5:3|8:6] in c[12:7]. */
function immSdsp(c: u32): u32 {
  return field(c, 12, 10, 3) | field(c, 9, 7, 6);
}

/** RV64 shift amount: shamt[5] in c[12], shamt[4:0] in c[6:2]; shamt[5]=1 is legal on RV64. */
function shamt(c: u32): u32 {
  return field(c, 12, 12, 5) | field(c, 6, 2, 0);
}

// ---- 32-bit encoders ------------------------------------------------------------------------------

function encR(funct7: u32, rs2: u32, rs1: u32, funct3: u32, rd: u32, opcode: u32): u32 {
  return (funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
}

function encI(imm: u32, rs1: u32, funct3: u32, rd: u32, opcode: u32): u32 {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
}

function encS(imm: u32, rs2: u32, rs1: u32, funct3: u32, opcode: u32): u32 {
  return (bits(imm, 11, 5) << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (bits(imm, 4, 0) << 7) | opcode;
}

function encB(imm: u32, rs2: u32, rs1: u32, funct3: u32): u32 {
  return (
    (bits(imm, 12, 12) << 31) | (bits(imm, 10, 5) << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) |
    (bits(imm, 4, 1) << 8) | (bits(imm, 11, 11) << 7) | OP_BRANCH
  );
}

function encJ(imm: u32, rd: u32): u32 {
  return (
    (bits(imm, 20, 20) << 31) | (bits(imm, 10, 1) << 21) | (bits(imm, 11, 11) << 20) | (bits(imm, 19, 12) << 12) |
    (rd << 7) | OP_JAL
  );
}

function encU(imm20: u32, rd: u32, opcode: u32): u32 {
  return (imm20 << 12) | (rd << 7) | opcode;
}

// ---- the expander ---------------------------------------------------------------------------------

/**
 * The 32-bit instruction that RVC parcel `c` (low 16 bits; bits 1:0 != 0b11) expands to on RV64GC,
 * or 0 if the parcel is illegal or reserved.
 */
export function expandCompressed(c: u32): u32 {
  c &= 0xffff;
  const quadrant = c & 3;
  const funct3 = bits(c, 15, 13);
  switch ((quadrant << 3) | funct3) {
    // ---- quadrant 0 ----
    case 0b00_000: {
      // c.addi4spn → addi rd', x2, nzuimm. nzuimm=0 is reserved; this includes the all-zero parcel,
      // which the spec defines as illegal.
      const imm = immAddi4spn(c);
      if (imm == 0) return 0;
      return encI(imm, SP, 0b000, rPrimeLow(c), OP_IMM);
    }
    case 0b00_001: // c.fld → fld rd', uimm(rs1')
      return encI(immCLD(c), rPrimeHigh(c), 0b011, rPrimeLow(c), OP_LOAD_FP);
    case 0b00_010: // c.lw → lw rd', uimm(rs1')
      return encI(immCLW(c), rPrimeHigh(c), 0b010, rPrimeLow(c), OP_LOAD);
    case 0b00_011: // c.ld → ld rd', uimm(rs1') (RV64; c.flw on RV32)
      return encI(immCLD(c), rPrimeHigh(c), 0b011, rPrimeLow(c), OP_LOAD);
    case 0b00_100: // reserved
      return 0;
    case 0b00_101: // c.fsd → fsd rs2', uimm(rs1')
      return encS(immCLD(c), rPrimeLow(c), rPrimeHigh(c), 0b011, OP_STORE_FP);
    case 0b00_110: // c.sw → sw rs2', uimm(rs1')
      return encS(immCLW(c), rPrimeLow(c), rPrimeHigh(c), 0b010, OP_STORE);
    case 0b00_111: // c.sd → sd rs2', uimm(rs1') (RV64; c.fsw on RV32)
      return encS(immCLD(c), rPrimeLow(c), rPrimeHigh(c), 0b011, OP_STORE);

    // ---- quadrant 1 ----
    case 0b01_000: {
      // c.addi → addi rd, rd, nzimm; c.nop when rd=x0 and imm=0. rd=x0 with imm≠0 and imm=0 with
      // rd≠x0 are HINTs, still legal.
      const rd = rdFull(c);
      return encI(immCI(c), rd, 0b000, rd, OP_IMM);
    }
    case 0b01_001: {
      // c.addiw → addiw rd, rd, imm (RV64; c.jal on RV32). "only valid when rd≠x0; the code points
      // with rd=x0 are reserved". imm=0 is legal (sext.w).
      const rd = rdFull(c);
      if (rd == X0) return 0;
      return encI(immCI(c), rd, 0b000, rd, OP_IMM_32);
    }
    case 0b01_010: {
      // c.li → addi rd, x0, imm; rd=x0 is a HINT.
      return encI(immCI(c), X0, 0b000, rdFull(c), OP_IMM);
    }
    case 0b01_011: {
      const rd = rdFull(c);
      if (rd == SP) {
        // c.addi16sp → addi x2, x2, nzimm; "the code point with nzimm=0 is reserved".
        const imm = immAddi16sp(c);
        if (imm == 0) return 0;
        return encI(imm, SP, 0b000, SP, OP_IMM);
      }
      // c.lui → lui rd, nzimm; nzimm=0 is reserved whatever rd; rd=x0 with nzimm≠0 is a HINT.
      if (bits(c, 12, 12) == 0 && bits(c, 6, 2) == 0) return 0;
      return encU(immLui(c), rd, OP_LUI);
    }
    case 0b01_100: {
      const rd = rPrimeHigh(c);
      switch (bits(c, 11, 10)) {
        case 0b00: // c.srli → srli rd', rd', shamt (shamt=0 is the c.srli64 HINT on RV64)
          return encI(shamt(c), rd, 0b101, rd, OP_IMM);
        case 0b01: // c.srai → srai rd', rd', shamt
          return encI(0x400 | shamt(c), rd, 0b101, rd, OP_IMM);
        case 0b10: // c.andi → andi rd', rd', imm
          return encI(immCI(c), rd, 0b111, rd, OP_IMM);
        default: {
          const rs2 = rPrimeLow(c);
          switch ((bits(c, 12, 12) << 2) | bits(c, 6, 5)) {
            case 0b000: // c.sub → sub rd', rd', rs2'
              return encR(0b0100000, rs2, rd, 0b000, rd, OP_OP);
            case 0b001: // c.xor
              return encR(0, rs2, rd, 0b100, rd, OP_OP);
            case 0b010: // c.or
              return encR(0, rs2, rd, 0b110, rd, OP_OP);
            case 0b011: // c.and
              return encR(0, rs2, rd, 0b111, rd, OP_OP);
            case 0b100: // c.subw (RV64)
              return encR(0b0100000, rs2, rd, 0b000, rd, OP_OP_32);
            case 0b101: // c.addw (RV64)
              return encR(0, rs2, rd, 0b000, rd, OP_OP_32);
            default: // 0b110, 0b111: reserved
              return 0;
          }
        }
      }
    }
    case 0b01_101: // c.j → jal x0, offset
      return encJ(immCJ(c), X0);
    case 0b01_110: // c.beqz → beq rs1', x0, offset
      return encB(immCB(c), X0, rPrimeHigh(c), 0b000);
    case 0b01_111: // c.bnez → bne rs1', x0, offset
      return encB(immCB(c), X0, rPrimeHigh(c), 0b001);

    // ---- quadrant 2 ----
    case 0b10_000: {
      // c.slli → slli rd, rd, shamt; rd=x0 and (on RV64) shamt=0 are HINTs.
      const rd = rdFull(c);
      return encI(shamt(c), rd, 0b001, rd, OP_IMM);
    }
    case 0b10_001: // c.fldsp → fld rd, uimm(x2); any rd, f0 included
      return encI(immLdsp(c), SP, 0b011, rdFull(c), OP_LOAD_FP);
    case 0b10_010: {
      // c.lwsp → lw rd, uimm(x2); "only valid when rd≠x0; the code points with rd=x0 are reserved".
      const rd = rdFull(c);
      if (rd == X0) return 0;
      return encI(immLwsp(c), SP, 0b010, rd, OP_LOAD);
    }
    case 0b10_011: {
      // c.ldsp → ld rd, uimm(x2) (RV64; c.flwsp on RV32); rd=x0 reserved.
      const rd = rdFull(c);
      if (rd == X0) return 0;
      return encI(immLdsp(c), SP, 0b011, rd, OP_LOAD);
    }
    case 0b10_100: {
      const rd = rdFull(c); // rs1 for c.jr / c.jalr
      const rs2 = rs2Full(c);
      if (bits(c, 12, 12) == 0) {
        if (rs2 == X0) {
          // c.jr → jalr x0, 0(rs1); "only valid when rs1≠x0; the code point with rs1=x0 is reserved".
          if (rd == X0) return 0;
          return encI(0, rd, 0b000, X0, OP_JALR);
        }
        // c.mv → add rd, x0, rs2; rd=x0 is a HINT.
        return encR(0, rs2, X0, 0b000, rd, OP_OP);
      }
      if (rs2 == X0) {
        // c.ebreak when rs1=x0, otherwise c.jalr → jalr x1, 0(rs1).
        if (rd == X0) return INSN_EBREAK;
        return encI(0, rd, 0b000, RA, OP_JALR);
      }
      // c.add → add rd, rd, rs2; rd=x0 is a HINT.
      return encR(0, rs2, rd, 0b000, rd, OP_OP);
    }
    case 0b10_101: // c.fsdsp → fsd rs2, uimm(x2)
      return encS(immSdsp(c), rs2Full(c), SP, 0b011, OP_STORE_FP);
    case 0b10_110: // c.swsp → sw rs2, uimm(x2)
      return encS(immSwsp(c), rs2Full(c), SP, 0b010, OP_STORE);
    case 0b10_111: // c.sdsp → sd rs2, uimm(x2) (RV64; c.fswsp on RV32)
      return encS(immSdsp(c), rs2Full(c), SP, 0b011, OP_STORE);

    default: // quadrant 3: not a compressed parcel
      return 0;
  }
}
