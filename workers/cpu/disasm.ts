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
 * rounding mode other than rne are legal instructions that objdump 2.40 leaves as `.4byte`: they "have
 * the rm field but are nonetheless mathematically unaffected by the rounding mode; software should set
 * their rm field to RNE (000) but implementations must treat the rm field as usual" (unprivileged spec,
 * F chapter, fcsr section), so we show a rounding mode other than rne as an operand (LLVM's convention).
 *
 * Which instruction it is and its operands come from decode.ts, the decoder the JIT uses too; this
 * file only spells them.
 *
 * Pure TypeScript, no DOM: runs in workers and in Node.
 */
import { csrLabel } from './csr-names.ts';
import { decode, type Instruction, type Operand } from './decode.ts';

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

/**
 * The assembly text of one instruction. `insn` holds the instruction's bits: if its low two bits are
 * not 0b11 only the low 16 bits (a compressed parcel) are read. `pc`, when given, turns branch and jump
 * offsets into absolute targets as objdump prints them; without it they read `.+off` / `.-off`.
 */
export function disassemble(insn: number, pc?: bigint): string {
  insn >>>= 0;
  const compressed = (insn & 3) !== 3;
  const i = decode(insn);
  if (i === undefined || !i.encoding.syntax) return compressed ? `.2byte ${hex(insn & 0xffff)}` : `.4byte ${hex(insn)}`;
  const mnemonic = i.encoding.ordered ? i.mnemonic + ORDERINGS[i.ordering]! : i.mnemonic;
  const operands = i.encoding.operands.map((operand) => text(operand, i, pc)).filter((t) => t !== '');
  return operands.length === 0 ? mnemonic : `${mnemonic} ${operands.join(',')}`;
}

/** The length in bytes of the instruction whose first parcel is `parcel` (2 or 4; 0 for longer forms). */
export function instructionLength(parcel: number): 2 | 4 | 0 {
  if ((parcel & 3) !== 3) return 2;
  return (parcel & 0x1c) !== 0x1c ? 4 : 0;
}

/** The aq and rl bits (26:25) of an atomic, as its mnemonic's suffix. */
const ORDERINGS = ['', '.rl', '.aq', '.aqrl'] as const;

/** One operand's text; '' for a rounding mode that is not shown. */
function text(operand: Operand, i: Instruction, pc: bigint | undefined): string {
  switch (operand) {
    case 'xd': return x(i.rd);
    case 'xs1': return x(i.rs1);
    case 'xs2': return x(i.rs2);
    case 'fd': return f(i.rd);
    case 'fs1': return f(i.rs1);
    case 'fs2': return f(i.rs2);
    case 'fs3': return f(i.rs3);
    case 'imm': return `${i.imm}`;
    case 'shamt': return hex(i.imm);
    case 'upper': return hex(i.imm >>> 12);
    case 'mem': return `${i.imm}(${x(i.rs1)})`;
    case 'addr': return `(${x(i.rs1)})`;
    case 'target': return target(i.imm, pc);
    case 'rm': return i.rm === RM_DYN ? '' : ROUNDING_MODES[i.rm]!;
    case 'rmExact': return i.rm === 0 ? '' : ROUNDING_MODES[i.rm]!;
    case 'csr': return csrLabel(i.csr);
    case 'zimm': return `${i.rs1}`;
    case 'pred': return fenceSet((i.imm >> 4) & 15);
    case 'succ': return fenceSet(i.imm & 15);
  }
}

function target(offset: number, pc: bigint | undefined): string {
  if (pc === undefined) return offset < 0 ? `.-${-offset}` : `.+${offset}`;
  return '0x' + BigInt.asUintN(64, pc + BigInt(offset)).toString(16);
}

/** "iorw" subset of a fence predecessor/successor field; objdump calls the empty set "unknown". */
function fenceSet(set: number): string {
  const s = (set & 8 ? 'i' : '') + (set & 4 ? 'o' : '') + (set & 2 ? 'r' : '') + (set & 1 ? 'w' : '');
  return s === '' ? 'unknown' : s;
}
