/**
 * RISC-V disassembler for traces and error messages: RV64IMAFDC, Zicsr, Zifencei and the privileged
 * instructions (mret, sret, wfi, sfence.vma; also uret and dret, which our hart does not implement but a
 * reader should recognise).
 *
 * The output follows GNU objdump `-M no-aliases` (binutils 2.40) character for character, so traces can
 * be diffed against objdump listings of the same code: ABI register names, decimal immediates except
 * lui/auipc/shift amounts in hex, branch and jump targets as absolute addresses, the rounding mode only
 * when it is not `dyn`, CSRs by name (csr-names.ts), compressed parcels as their `c.*` form, and
 * `.4byte 0x…` / `.2byte 0x…` for what is not an RV64GC instruction. objdump's own word for an operand
 * it cannot name (a reserved rounding mode, an empty fence set) is `unknown`; ours too.
 *
 * Two deliberate differences, following the spec: c.addi16sp with nzimm=0 (0x6101) is reserved, so it is
 * `.2byte 0x6101` here where objdump 2.40 prints `c.addi16sp sp,0`; and fcvt.d.s/.d.w/.d.wu with a
 * rounding mode other than rne are legal instructions (see withExactRm) that objdump 2.40 leaves as
 * `.4byte`.
 *
 * Pure TypeScript, no DOM: runs in workers and in Node.
 */
import { csrLabel } from './csr-names.ts';

const X_NAMES = [
  'zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6',
] as const;
const F_NAMES = [
  'ft0', 'ft1', 'ft2', 'ft3', 'ft4', 'ft5', 'ft6', 'ft7', 'fs0', 'fs1', 'fa0', 'fa1', 'fa2', 'fa3', 'fa4', 'fa5',
  'fa6', 'fa7', 'fs2', 'fs3', 'fs4', 'fs5', 'fs6', 'fs7', 'fs8', 'fs9', 'fs10', 'fs11', 'ft8', 'ft9', 'ft10', 'ft11',
] as const;
/** Rounding-mode field values 0–7; 5 and 6 are reserved. */
const ROUNDING_MODES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'unknown', 'unknown', 'dyn'] as const;
const RM_DYN = 7;

const x = (r: number): string => X_NAMES[r & 31]!;
const f = (r: number): string => F_NAMES[r & 31]!;
const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

/** Bits hi..lo of w, shifted down (unsigned). */
const bits = (w: number, hi: number, lo: number): number => (w >>> lo) & (2 ** (hi - lo + 1) - 1);
/** Sign-extends the low `width` bits of v. */
const sext = (v: number, width: number): number => (v << (32 - width)) >> (32 - width);

/**
 * The assembly text of one instruction. `insn` holds the instruction's bits: if its low two bits are
 * not 0b11 only the low 16 bits (a compressed parcel) are read. `pc`, when given, turns branch and jump
 * offsets into absolute targets as objdump prints them; without it they read `.+off` / `.-off`.
 */
export function disassemble(insn: number, pc?: bigint): string {
  insn >>>= 0;
  if ((insn & 3) !== 3) return disassembleCompressed(insn & 0xffff, pc);
  return disassemble32(insn, pc) ?? `.4byte ${hex(insn)}`;
}

/** The length in bytes of the instruction whose first parcel is `parcel` (2 or 4; 0 for longer forms). */
export function instructionLength(parcel: number): 2 | 4 | 0 {
  if ((parcel & 3) !== 3) return 2;
  return (parcel & 0x1c) !== 0x1c ? 4 : 0;
}

function target(offset: number, pc: bigint | undefined): string {
  if (pc === undefined) return offset < 0 ? `.-${-offset}` : `.+${offset}`;
  return '0x' + BigInt.asUintN(64, pc + BigInt(offset)).toString(16);
}

const lookup = (table: Readonly<Record<number, string>>, key: number): string | undefined => table[key];
const join = (mnemonic: string, ...operands: string[]): string => `${mnemonic} ${operands.join(',')}`;
const withRm = (operands: string[], rm: number): string[] =>
  rm === RM_DYN ? operands : [...operands, ROUNDING_MODES[rm]!];

/**
 * fcvt.d.s, fcvt.d.w and fcvt.d.wu are exact whatever their rm field holds. Unprivileged spec, F chapter,
 * fcsr section: such instructions "have the rm field but are nonetheless mathematically unaffected by
 * the rounding mode; software should set their rm field to RNE (000) but implementations must treat
 * the rm field as usual".
 * objdump 2.40 decodes only rm=rne and prints no rounding mode; the other modes are legal, so we show
 * them as an operand (LLVM's convention) where objdump gives up with `.4byte`.
 */
const withExactRm = (operands: string[], rm: number): string[] =>
  rm === 0 ? operands : [...operands, ROUNDING_MODES[rm]!];

/** "iorw" subset of a fence predecessor/successor field; objdump calls the empty set "unknown". */
function fenceSet(set: number): string {
  const s = (set & 8 ? 'i' : '') + (set & 4 ? 'o' : '') + (set & 2 ? 'r' : '') + (set & 1 ? 'w' : '');
  return s === '' ? 'unknown' : s;
}

/** The 32-bit instruction, or undefined when it is not one of ours. */
function disassemble32(w: number, pc: bigint | undefined): string | undefined {
  const opcode = w & 0x7f;
  const rd = bits(w, 11, 7);
  const funct3 = bits(w, 14, 12);
  const rs1 = bits(w, 19, 15);
  const rs2 = bits(w, 24, 20);
  const funct7 = bits(w, 31, 25);
  const immI = w >> 20;
  const immS = ((w >> 25) << 5) | bits(w, 11, 7);

  switch (opcode) {
    case 0x03: {
      // LOAD
      const mnemonic = ['lb', 'lh', 'lw', 'ld', 'lbu', 'lhu', 'lwu'][funct3];
      return mnemonic && join(mnemonic, x(rd), `${immI}(${x(rs1)})`);
    }
    case 0x07: {
      // LOAD-FP
      const mnemonic = funct3 === 2 ? 'flw' : funct3 === 3 ? 'fld' : undefined;
      return mnemonic && join(mnemonic, f(rd), `${immI}(${x(rs1)})`);
    }
    case 0x0f: {
      // MISC-MEM. objdump (like the spec's assembly syntax) only names the forms with rd=rs1=0; the
      // spec has a hart treat the other reserved forms as plain fences, but there is no text for them.
      if (rd !== 0 || rs1 !== 0) return undefined;
      if (funct3 === 0) {
        const fm = bits(w, 31, 28);
        const pred = bits(w, 27, 24);
        const succ = bits(w, 23, 20);
        if (fm === 0) return join('fence', fenceSet(pred), fenceSet(succ));
        if (fm === 0b1000 && pred === 0b0011 && succ === 0b0011) return 'fence.tso';
        return undefined;
      }
      if (funct3 === 1 && immI === 0) return 'fence.i';
      return undefined;
    }
    case 0x13: {
      // OP-IMM
      switch (funct3) {
        case 0: return join('addi', x(rd), x(rs1), `${immI}`);
        case 2: return join('slti', x(rd), x(rs1), `${immI}`);
        case 3: return join('sltiu', x(rd), x(rs1), `${immI}`);
        case 4: return join('xori', x(rd), x(rs1), `${immI}`);
        case 6: return join('ori', x(rd), x(rs1), `${immI}`);
        case 7: return join('andi', x(rd), x(rs1), `${immI}`);
        case 1: // RV64: 6-bit shamt under funct6
          return bits(w, 31, 26) === 0 ? join('slli', x(rd), x(rs1), hex(bits(w, 25, 20))) : undefined;
        default: {
          const funct6 = bits(w, 31, 26);
          const mnemonic = funct6 === 0 ? 'srli' : funct6 === 0b010000 ? 'srai' : undefined;
          return mnemonic && join(mnemonic, x(rd), x(rs1), hex(bits(w, 25, 20)));
        }
      }
    }
    case 0x17: // AUIPC
      return join('auipc', x(rd), hex(w >>> 12));
    case 0x1b: {
      // OP-IMM-32
      if (funct3 === 0) return join('addiw', x(rd), x(rs1), `${immI}`);
      if (funct3 === 1 && funct7 === 0) return join('slliw', x(rd), x(rs1), hex(rs2));
      if (funct3 === 5 && funct7 === 0) return join('srliw', x(rd), x(rs1), hex(rs2));
      if (funct3 === 5 && funct7 === 0b0100000) return join('sraiw', x(rd), x(rs1), hex(rs2));
      return undefined;
    }
    case 0x23: {
      // STORE
      const mnemonic = ['sb', 'sh', 'sw', 'sd'][funct3];
      return mnemonic && join(mnemonic, x(rs2), `${immS}(${x(rs1)})`);
    }
    case 0x27: {
      // STORE-FP
      const mnemonic = funct3 === 2 ? 'fsw' : funct3 === 3 ? 'fsd' : undefined;
      return mnemonic && join(mnemonic, f(rs2), `${immS}(${x(rs1)})`);
    }
    case 0x2f: // AMO
      return amo(w, rd, funct3, rs1, rs2);
    case 0x33: {
      // OP
      const mnemonic =
        funct7 === 0 ? ['add', 'sll', 'slt', 'sltu', 'xor', 'srl', 'or', 'and'][funct3]
        : funct7 === 0b0100000 ? lookup({ 0: 'sub', 5: 'sra' }, funct3)
        : funct7 === 1 ? ['mul', 'mulh', 'mulhsu', 'mulhu', 'div', 'divu', 'rem', 'remu'][funct3]
        : undefined;
      return mnemonic && join(mnemonic, x(rd), x(rs1), x(rs2));
    }
    case 0x37: // LUI
      return join('lui', x(rd), hex(w >>> 12));
    case 0x3b: {
      // OP-32
      const mnemonic =
        funct7 === 0 ? lookup({ 0: 'addw', 1: 'sllw', 5: 'srlw' }, funct3)
        : funct7 === 0b0100000 ? lookup({ 0: 'subw', 5: 'sraw' }, funct3)
        : funct7 === 1 ? lookup({ 0: 'mulw', 4: 'divw', 5: 'divuw', 6: 'remw', 7: 'remuw' }, funct3)
        : undefined;
      return mnemonic && join(mnemonic, x(rd), x(rs1), x(rs2));
    }
    case 0x43: // MADD
    case 0x47: // MSUB
    case 0x4b: // NMSUB
    case 0x4f: { // NMADD
      const fmt = bits(w, 26, 25);
      if (fmt > 1) return undefined; // H and Q
      const op = ['fmadd', 'fmsub', 'fnmsub', 'fnmadd'][(opcode >> 2) & 3]!;
      return join(`${op}.${fmt ? 'd' : 's'}`, ...withRm([f(rd), f(rs1), f(rs2), f(bits(w, 31, 27))], funct3));
    }
    case 0x53: // OP-FP
      return opFp(rd, funct3, rs1, rs2, funct7);
    case 0x63: {
      // BRANCH
      const mnemonic = ['beq', 'bne', undefined, undefined, 'blt', 'bge', 'bltu', 'bgeu'][funct3];
      const offset = sext((bits(w, 31, 31) << 12) | (bits(w, 7, 7) << 11) | (bits(w, 30, 25) << 5) | (bits(w, 11, 8) << 1), 13);
      return mnemonic && join(mnemonic, x(rs1), x(rs2), target(offset, pc));
    }
    case 0x67: // JALR
      return funct3 === 0 ? join('jalr', x(rd), `${immI}(${x(rs1)})`) : undefined;
    case 0x6f: {
      // JAL
      const offset = sext((bits(w, 31, 31) << 20) | (bits(w, 19, 12) << 12) | (bits(w, 20, 20) << 11) | (bits(w, 30, 21) << 1), 21);
      return join('jal', x(rd), target(offset, pc));
    }
    case 0x73: // SYSTEM
      return system(w, rd, funct3, rs1, rs2, funct7);
    default:
      return undefined;
  }
}

function amo(w: number, rd: number, funct3: number, rs1: number, rs2: number): string | undefined {
  const width = funct3 === 2 ? 'w' : funct3 === 3 ? 'd' : undefined;
  if (!width) return undefined;
  const funct5 = bits(w, 31, 27);
  const ordering = ['', '.rl', '.aq', '.aqrl'][bits(w, 26, 25)]!;
  const address = `(${x(rs1)})`;
  if (funct5 === 0b00010) return rs2 === 0 ? join(`lr.${width}${ordering}`, x(rd), address) : undefined;
  const op = lookup({
    0b00011: 'sc', 0b00001: 'amoswap', 0b00000: 'amoadd', 0b00100: 'amoxor', 0b01100: 'amoand',
    0b01000: 'amoor', 0b10000: 'amomin', 0b10100: 'amomax', 0b11000: 'amominu', 0b11100: 'amomaxu',
  }, funct5);
  return op && join(`${op}.${width}${ordering}`, x(rd), x(rs2), address);
}

function opFp(rd: number, rm: number, rs1: number, rs2: number, funct7: number): string | undefined {
  const fmt = funct7 & 3; // 0 = S, 1 = D; H and Q are not ours
  if (fmt > 1) return undefined;
  const p = fmt ? 'd' : 's';
  switch (funct7 >> 2) {
    case 0b00000: return join(`fadd.${p}`, ...withRm([f(rd), f(rs1), f(rs2)], rm));
    case 0b00001: return join(`fsub.${p}`, ...withRm([f(rd), f(rs1), f(rs2)], rm));
    case 0b00010: return join(`fmul.${p}`, ...withRm([f(rd), f(rs1), f(rs2)], rm));
    case 0b00011: return join(`fdiv.${p}`, ...withRm([f(rd), f(rs1), f(rs2)], rm));
    case 0b01011: return rs2 === 0 ? join(`fsqrt.${p}`, ...withRm([f(rd), f(rs1)], rm)) : undefined;
    case 0b00100: {
      const op = ['fsgnj', 'fsgnjn', 'fsgnjx'][rm];
      return op && join(`${op}.${p}`, f(rd), f(rs1), f(rs2));
    }
    case 0b00101: {
      const op = ['fmin', 'fmax'][rm];
      return op && join(`${op}.${p}`, f(rd), f(rs1), f(rs2));
    }
    case 0b01000: // fcvt.s.d (rs2 = D) / fcvt.d.s (rs2 = S)
      if (rs2 !== 1 - fmt) return undefined;
      return fmt ? join('fcvt.d.s', ...withExactRm([f(rd), f(rs1)], rm)) : join('fcvt.s.d', ...withRm([f(rd), f(rs1)], rm));
    case 0b10100: {
      const op = ['fle', 'flt', 'feq'][rm];
      return op && join(`${op}.${p}`, x(rd), f(rs1), f(rs2));
    }
    case 0b11000: { // float → integer
      const to = ['w', 'wu', 'l', 'lu'][rs2];
      return to && join(`fcvt.${to}.${p}`, ...withRm([x(rd), f(rs1)], rm));
    }
    case 0b11010: { // integer → float
      const from = ['w', 'wu', 'l', 'lu'][rs2];
      const operands = fmt && rs2 < 2 ? withExactRm([f(rd), x(rs1)], rm) : withRm([f(rd), x(rs1)], rm);
      return from && join(`fcvt.${p}.${from}`, ...operands);
    }
    case 0b11100:
      if (rs2 !== 0) return undefined;
      if (rm === 0) return join(fmt ? 'fmv.x.d' : 'fmv.x.w', x(rd), f(rs1));
      if (rm === 1) return join(`fclass.${p}`, x(rd), f(rs1));
      return undefined;
    case 0b11110:
      return rs2 === 0 && rm === 0 ? join(fmt ? 'fmv.d.x' : 'fmv.w.x', f(rd), x(rs1)) : undefined;
    default:
      return undefined;
  }
}

function system(w: number, rd: number, funct3: number, rs1: number, rs2: number, funct7: number): string | undefined {
  if (funct3 === 0) {
    switch (w) {
      case 0x0000_0073: return 'ecall';
      case 0x0010_0073: return 'ebreak';
      case 0x0020_0073: return 'uret';
      case 0x1020_0073: return 'sret';
      case 0x3020_0073: return 'mret';
      case 0x7b20_0073: return 'dret';
      case 0x1050_0073: return 'wfi';
    }
    if (funct7 === 0b0001001 && rd === 0) return join('sfence.vma', x(rs1), x(rs2));
    return undefined;
  }
  if (funct3 === 4) return undefined;
  const op = ['csrrw', 'csrrs', 'csrrc'][(funct3 & 3) - 1]!;
  const csr = csrLabel(w >>> 20);
  return funct3 < 4 ? join(op, x(rd), csr, x(rs1)) : join(`${op}i`, x(rd), csr, `${rs1}`);
}

/** A 16-bit parcel in its c.* form (RV64GC: c.ld/c.sd, c.addiw, no c.flw/c.jal). */
function disassembleCompressed(c: number, pc: bigint | undefined): string {
  return compressed(c, pc) ?? `.2byte ${hex(c)}`;
}

function compressed(c: number, pc: bigint | undefined): string | undefined {
  const quadrant = c & 3;
  const funct3 = bits(c, 15, 13);
  const rdFull = bits(c, 11, 7);
  const rs2Full = bits(c, 6, 2);
  const rdLow = 8 + bits(c, 4, 2); // rd' / rs2' in bits 4:2
  const rdHigh = 8 + bits(c, 9, 7); // rs1' / rd' in bits 9:7
  const immCI = sext((bits(c, 12, 12) << 5) | bits(c, 6, 2), 6);
  const shamt = (bits(c, 12, 12) << 5) | bits(c, 6, 2);
  // uimm[5:3] in c[12:10] with uimm[2|6] (word) or uimm[7:6] (double) in c[6:5]
  const uimmW = (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 6);
  const uimmD = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);

  switch ((quadrant << 3) | funct3) {
    case 0b00_000: {
      if (c === 0) return 'c.unimp'; // the defined-illegal all-zero parcel
      const nzuimm = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 3);
      return nzuimm === 0 ? undefined : join('c.addi4spn', x(rdLow), 'sp', `${nzuimm}`);
    }
    case 0b00_001: return join('c.fld', f(rdLow), `${uimmD}(${x(rdHigh)})`);
    case 0b00_010: return join('c.lw', x(rdLow), `${uimmW}(${x(rdHigh)})`);
    case 0b00_011: return join('c.ld', x(rdLow), `${uimmD}(${x(rdHigh)})`);
    case 0b00_101: return join('c.fsd', f(rdLow), `${uimmD}(${x(rdHigh)})`);
    case 0b00_110: return join('c.sw', x(rdLow), `${uimmW}(${x(rdHigh)})`);
    case 0b00_111: return join('c.sd', x(rdLow), `${uimmD}(${x(rdHigh)})`);

    case 0b01_000: return join('c.addi', x(rdFull), `${immCI}`);
    case 0b01_001: return rdFull === 0 ? undefined : join('c.addiw', x(rdFull), `${immCI}`);
    case 0b01_010: return join('c.li', x(rdFull), `${immCI}`);
    case 0b01_011: {
      if (rdFull === 2) {
        const nzimm = sext((bits(c, 12, 12) << 9) | (bits(c, 6, 6) << 4) | (bits(c, 5, 5) << 6) | (bits(c, 4, 3) << 7) | (bits(c, 2, 2) << 5), 10);
        return nzimm === 0 ? undefined : join('c.addi16sp', 'sp', `${nzimm}`);
      }
      return immCI === 0 ? undefined : join('c.lui', x(rdFull), hex(immCI & 0xfffff));
    }
    case 0b01_100:
      switch (bits(c, 11, 10)) {
        case 0: return shamt === 0 ? join('c.srli64', x(rdHigh)) : join('c.srli', x(rdHigh), hex(shamt));
        case 1: return shamt === 0 ? join('c.srai64', x(rdHigh)) : join('c.srai', x(rdHigh), hex(shamt));
        case 2: return join('c.andi', x(rdHigh), `${immCI}`);
        default: {
          const op = ['c.sub', 'c.xor', 'c.or', 'c.and', 'c.subw', 'c.addw'][(bits(c, 12, 12) << 2) | bits(c, 6, 5)];
          return op && join(op, x(rdHigh), x(rdLow));
        }
      }
    case 0b01_101: {
      const offset = sext((bits(c, 12, 12) << 11) | (bits(c, 11, 11) << 4) | (bits(c, 10, 9) << 8) | (bits(c, 8, 8) << 10) |
        (bits(c, 7, 7) << 6) | (bits(c, 6, 6) << 7) | (bits(c, 5, 3) << 1) | (bits(c, 2, 2) << 5), 12);
      return join('c.j', target(offset, pc));
    }
    case 0b01_110:
    case 0b01_111: {
      const offset = sext((bits(c, 12, 12) << 8) | (bits(c, 11, 10) << 3) | (bits(c, 6, 5) << 6) | (bits(c, 4, 3) << 1) | (bits(c, 2, 2) << 5), 9);
      return join(funct3 === 0b110 ? 'c.beqz' : 'c.bnez', x(rdHigh), target(offset, pc));
    }

    case 0b10_000: return shamt === 0 ? join('c.slli64', x(rdFull)) : join('c.slli', x(rdFull), hex(shamt));
    case 0b10_001: {
      const uimm = (bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
      return join('c.fldsp', f(rdFull), `${uimm}(sp)`);
    }
    case 0b10_010: {
      const uimm = (bits(c, 12, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6);
      return rdFull === 0 ? undefined : join('c.lwsp', x(rdFull), `${uimm}(sp)`);
    }
    case 0b10_011: {
      const uimm = (bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
      return rdFull === 0 ? undefined : join('c.ldsp', x(rdFull), `${uimm}(sp)`);
    }
    case 0b10_100:
      if (bits(c, 12, 12) === 0) {
        if (rs2Full !== 0) return join('c.mv', x(rdFull), x(rs2Full));
        return rdFull === 0 ? undefined : join('c.jr', x(rdFull));
      }
      if (rs2Full !== 0) return join('c.add', x(rdFull), x(rs2Full));
      return rdFull === 0 ? 'c.ebreak' : join('c.jalr', x(rdFull));
    case 0b10_101: {
      const uimm = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
      return join('c.fsdsp', f(rs2Full), `${uimm}(sp)`);
    }
    case 0b10_110: {
      const uimm = (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);
      return join('c.swsp', x(rs2Full), `${uimm}(sp)`);
    }
    case 0b10_111: {
      const uimm = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
      return join('c.sdsp', x(rs2Full), `${uimm}(sp)`);
    }
    default: // quadrant 0 funct3=100 is reserved
      return undefined;
  }
}
