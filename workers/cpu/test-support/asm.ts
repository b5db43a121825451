/**
 * A tiny RV64GC instruction encoder for the core's unit tests. Each function returns one 32-bit
 * instruction word (an unsigned number); `c()` wraps a raw 16-bit compressed parcel; `li()` returns a
 * sequence. `assemble()` turns a (possibly nested) list of them into little-endian bytes.
 *
 * Encodings follow the unprivileged spec's base formats (R/I/S/B/U/J, ch. 2) and the privileged spec's
 * SYSTEM encodings; asm.test.ts checks a sample of them against GNU as/objdump output.
 */
import { CSR_NAMES } from '../csr-names.ts';

const ABI_NAMES = [
  'zero',
  'ra',
  'sp',
  'gp',
  'tp',
  't0',
  't1',
  't2',
  's0',
  's1',
  'a0',
  'a1',
  'a2',
  'a3',
  'a4',
  'a5',
  'a6',
  'a7',
  's2',
  's3',
  's4',
  's5',
  's6',
  's7',
  's8',
  's9',
  's10',
  's11',
  't3',
  't4',
  't5',
  't6',
] as const;

export type AbiName = (typeof ABI_NAMES)[number] | 'fp';
/** A register: its number 0..31 or its ABI name. */
export type Reg = number | AbiName;

/** The number of register `r`. */
export function reg(r: Reg): number {
  if (typeof r === 'number') {
    if (!Number.isInteger(r) || r < 0 || r > 31) throw new Error(`bad register ${r}`);
    return r;
  }
  if (r === 'fp') return 8;
  return ABI_NAMES.indexOf(r);
}

const CSR_NUMBERS = new Map<string, number>([...CSR_NAMES].map(([num, name]) => [name, num]));

/** A CSR given by number or by its spec name ('mstatus', 'pmpcfg0', …). */
export type Csr = number | string;

export function csrNumber(csr: Csr): number {
  if (typeof csr === 'number') return csr;
  const num = CSR_NUMBERS.get(csr);
  if (num === undefined) throw new Error(`unknown CSR ${csr}`);
  return num;
}

/** A raw 16-bit parcel (a compressed instruction). */
export interface Parcel {
  readonly parcel: number;
}
export type Item = number | Parcel | readonly Item[];

export function c(parcel: number): Parcel {
  if (!Number.isInteger(parcel) || parcel < 0 || parcel > 0xffff) throw new Error(`bad parcel ${parcel}`);
  return { parcel };
}

function checkSigned(imm: number, bits: number, what: string): void {
  const lim = 2 ** (bits - 1);
  if (!Number.isInteger(imm) || imm < -lim || imm >= lim) throw new Error(`${what} immediate ${imm} out of range`);
}

// ---- base formats ------------------------------------------------------------------------------------

export function rType(opcode: number, funct3: number, funct7: number, rd: Reg, rs1: Reg, rs2: Reg): number {
  return ((funct7 << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (funct3 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}

export function iType(opcode: number, funct3: number, rd: Reg, rs1: Reg, imm: number): number {
  checkSigned(imm, 12, 'I-type');
  return (((imm & 0xfff) << 20) | (reg(rs1) << 15) | (funct3 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}

export function sType(opcode: number, funct3: number, rs1: Reg, rs2: Reg, imm: number): number {
  checkSigned(imm, 12, 'S-type');
  const i = imm & 0xfff;
  return (((i >> 5) << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (funct3 << 12) | ((i & 31) << 7) | opcode) >>> 0;
}

export function bType(funct3: number, rs1: Reg, rs2: Reg, offset: number): number {
  checkSigned(offset, 13, 'branch');
  if (offset & 1) throw new Error('branch offset must be even');
  const i = offset & 0x1fff;
  return (
    ((((i >> 12) & 1) << 31) |
      (((i >> 5) & 0x3f) << 25) |
      (reg(rs2) << 20) |
      (reg(rs1) << 15) |
      (funct3 << 12) |
      (((i >> 1) & 0xf) << 8) |
      (((i >> 11) & 1) << 7) |
      0x63) >>>
    0
  );
}

export function uType(opcode: number, rd: Reg, imm20: number): number {
  if (!Number.isInteger(imm20) || imm20 < 0 || imm20 > 0xfffff) throw new Error(`U-type immediate ${imm20}`);
  return ((imm20 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}

export function jType(rd: Reg, offset: number): number {
  checkSigned(offset, 21, 'jal');
  if (offset & 1) throw new Error('jal offset must be even');
  const i = offset & 0x1f_ffff;
  return (
    ((((i >> 20) & 1) << 31) |
      (((i >> 1) & 0x3ff) << 21) |
      (((i >> 11) & 1) << 20) |
      (((i >> 12) & 0xff) << 12) |
      (reg(rd) << 7) |
      0x6f) >>>
    0
  );
}

// ---- RV64I -------------------------------------------------------------------------------------------

export const lui = (rd: Reg, imm20: number): number => uType(0x37, rd, imm20);
export const auipc = (rd: Reg, imm20: number): number => uType(0x17, rd, imm20);
export const jal = (rd: Reg, offset: number): number => jType(rd, offset);
export const jalr = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x67, 0, rd, rs1, imm);

export const beq = (rs1: Reg, rs2: Reg, off: number): number => bType(0, rs1, rs2, off);
export const bne = (rs1: Reg, rs2: Reg, off: number): number => bType(1, rs1, rs2, off);
export const blt = (rs1: Reg, rs2: Reg, off: number): number => bType(4, rs1, rs2, off);
export const bge = (rs1: Reg, rs2: Reg, off: number): number => bType(5, rs1, rs2, off);
export const bltu = (rs1: Reg, rs2: Reg, off: number): number => bType(6, rs1, rs2, off);
export const bgeu = (rs1: Reg, rs2: Reg, off: number): number => bType(7, rs1, rs2, off);

export const lb = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 0, rd, rs1, imm);
export const lh = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 1, rd, rs1, imm);
export const lw = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 2, rd, rs1, imm);
export const ld = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 3, rd, rs1, imm);
export const lbu = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 4, rd, rs1, imm);
export const lhu = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 5, rd, rs1, imm);
export const lwu = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x03, 6, rd, rs1, imm);

export const sb = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x23, 0, rs1, rs2, imm);
export const sh = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x23, 1, rs1, rs2, imm);
export const sw = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x23, 2, rs1, rs2, imm);
export const sd = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x23, 3, rs1, rs2, imm);

export const addi = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 0, rd, rs1, imm);
export const slti = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 2, rd, rs1, imm);
export const sltiu = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 3, rd, rs1, imm);
export const xori = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 4, rd, rs1, imm);
export const ori = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 6, rd, rs1, imm);
export const andi = (rd: Reg, rs1: Reg, imm: number): number => iType(0x13, 7, rd, rs1, imm);

function shiftImm(
  opcode: number,
  funct3: number,
  funct6: number,
  rd: Reg,
  rs1: Reg,
  shamt: number,
  max: number,
): number {
  if (!Number.isInteger(shamt) || shamt < 0 || shamt > max) throw new Error(`shift amount ${shamt}`);
  return ((funct6 << 26) | (shamt << 20) | (reg(rs1) << 15) | (funct3 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}
export const slli = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x13, 1, 0, rd, rs1, sh, 63);
export const srli = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x13, 5, 0, rd, rs1, sh, 63);
export const srai = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x13, 5, 0x10, rd, rs1, sh, 63);

export const addiw = (rd: Reg, rs1: Reg, imm: number): number => iType(0x1b, 0, rd, rs1, imm);
export const slliw = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x1b, 1, 0, rd, rs1, sh, 31);
export const srliw = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x1b, 5, 0, rd, rs1, sh, 31);
export const sraiw = (rd: Reg, rs1: Reg, sh: number): number => shiftImm(0x1b, 5, 0x10, rd, rs1, sh, 31);

const op =
  (funct3: number, funct7: number) =>
  (rd: Reg, rs1: Reg, rs2: Reg): number =>
    rType(0x33, funct3, funct7, rd, rs1, rs2);
const op32 =
  (funct3: number, funct7: number) =>
  (rd: Reg, rs1: Reg, rs2: Reg): number =>
    rType(0x3b, funct3, funct7, rd, rs1, rs2);

export const add = op(0, 0);
export const sub = op(0, 0x20);
export const sll = op(1, 0);
export const slt = op(2, 0);
export const sltu = op(3, 0);
export const xor = op(4, 0);
export const srl = op(5, 0);
export const sra = op(5, 0x20);
export const or = op(6, 0);
export const and = op(7, 0);
export const addw = op32(0, 0);
export const subw = op32(0, 0x20);
export const sllw = op32(1, 0);
export const srlw = op32(5, 0);
export const sraw = op32(5, 0x20);

// ---- M -----------------------------------------------------------------------------------------------

export const mul = op(0, 1);
export const mulh = op(1, 1);
export const mulhsu = op(2, 1);
export const mulhu = op(3, 1);
export const div = op(4, 1);
export const divu = op(5, 1);
export const rem = op(6, 1);
export const remu = op(7, 1);
export const mulw = op32(0, 1);
export const divw = op32(4, 1);
export const divuw = op32(5, 1);
export const remw = op32(6, 1);
export const remuw = op32(7, 1);

// ---- A -----------------------------------------------------------------------------------------------

export interface Ordering {
  aq?: boolean;
  rl?: boolean;
}

export function amo(funct5: number, width: 'w' | 'd', rd: Reg, rs2: Reg, rs1: Reg, ord: Ordering = {}): number {
  const funct7 = (funct5 << 2) | (ord.aq ? 2 : 0) | (ord.rl ? 1 : 0);
  return rType(0x2f, width === 'w' ? 2 : 3, funct7, rd, rs1, rs2);
}
/** lr.w rd, (rs1) */
export const lr_w = (rd: Reg, rs1: Reg, ord?: Ordering): number => amo(0x02, 'w', rd, 0, rs1, ord);
export const lr_d = (rd: Reg, rs1: Reg, ord?: Ordering): number => amo(0x02, 'd', rd, 0, rs1, ord);
/** sc.w rd, rs2, (rs1) — operand order as in assembly. */
export const sc_w = (rd: Reg, rs2: Reg, rs1: Reg, ord?: Ordering): number => amo(0x03, 'w', rd, rs2, rs1, ord);
export const sc_d = (rd: Reg, rs2: Reg, rs1: Reg, ord?: Ordering): number => amo(0x03, 'd', rd, rs2, rs1, ord);

/** The AMOs by name, funct5 from the unprivileged spec's A chapter; operands as `amoadd.w rd, rs2, (rs1)`. */
export const AMO_FUNCT5 = {
  amoswap: 0x01,
  amoadd: 0x00,
  amoxor: 0x04,
  amoand: 0x0c,
  amoor: 0x08,
  amomin: 0x10,
  amomax: 0x14,
  amominu: 0x18,
  amomaxu: 0x1c,
} as const;
export type AmoName = keyof typeof AMO_FUNCT5;
const amoOp =
  (name: AmoName, width: 'w' | 'd') =>
  (rd: Reg, rs2: Reg, rs1: Reg, ord?: Ordering): number =>
    amo(AMO_FUNCT5[name], width, rd, rs2, rs1, ord);
export const amoswap_w = amoOp('amoswap', 'w');
export const amoswap_d = amoOp('amoswap', 'd');
export const amoadd_w = amoOp('amoadd', 'w');
export const amoadd_d = amoOp('amoadd', 'd');
export const amoxor_w = amoOp('amoxor', 'w');
export const amoxor_d = amoOp('amoxor', 'd');
export const amoand_w = amoOp('amoand', 'w');
export const amoand_d = amoOp('amoand', 'd');
export const amoor_w = amoOp('amoor', 'w');
export const amoor_d = amoOp('amoor', 'd');
export const amomin_w = amoOp('amomin', 'w');
export const amomin_d = amoOp('amomin', 'd');
export const amomax_w = amoOp('amomax', 'w');
export const amomax_d = amoOp('amomax', 'd');
export const amominu_w = amoOp('amominu', 'w');
export const amominu_d = amoOp('amominu', 'd');
export const amomaxu_w = amoOp('amomaxu', 'w');
export const amomaxu_d = amoOp('amomaxu', 'd');

// ---- fences and SYSTEM -------------------------------------------------------------------------------

/** fence iorw, iorw */
export const fence = (): number => 0x0ff0_000f;
export const fence_i = (): number => 0x0000_100f;
export const ecall = (): number => 0x0000_0073;
export const ebreak = (): number => 0x0010_0073;
export const sret = (): number => 0x1020_0073;
export const mret = (): number => 0x3020_0073;
export const wfi = (): number => 0x1050_0073;
export const sfence_vma = (rs1: Reg = 0, rs2: Reg = 0): number => rType(0x73, 0, 0x09, 0, rs1, rs2);

const csrOp =
  (funct3: number) =>
  (rd: Reg, csr: Csr, rs1: Reg): number => {
    const num = csrNumber(csr);
    if (num < 0 || num > 0xfff) throw new Error(`bad CSR ${num}`);
    return ((num << 20) | (reg(rs1) << 15) | (funct3 << 12) | (reg(rd) << 7) | 0x73) >>> 0;
  };
const csrImmOp =
  (funct3: number) =>
  (rd: Reg, csr: Csr, uimm: number): number => {
    if (!Number.isInteger(uimm) || uimm < 0 || uimm > 31) throw new Error(`bad CSR uimm ${uimm}`);
    return csrOp(funct3)(rd, csr, uimm);
  };
export const csrrw = csrOp(1);
export const csrrs = csrOp(2);
export const csrrc = csrOp(3);
export const csrrwi = csrImmOp(5);
export const csrrsi = csrImmOp(6);
export const csrrci = csrImmOp(7);
export const csrr = (rd: Reg, csr: Csr): number => csrrs(rd, csr, 0);
export const csrw = (csr: Csr, rs1: Reg): number => csrrw(0, csr, rs1);
export const csrs = (csr: Csr, rs1: Reg): number => csrrs(0, csr, rs1);
export const csrc = (csr: Csr, rs1: Reg): number => csrrc(0, csr, rs1);

// ---- F and D (moves, loads and stores; enough to test decoding and NaN-boxing) ------------------------

export const flw = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x07, 2, rd, rs1, imm);
export const fld = (rd: Reg, rs1: Reg, imm = 0): number => iType(0x07, 3, rd, rs1, imm);
export const fsw = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x27, 2, rs1, rs2, imm);
export const fsd = (rs2: Reg, rs1: Reg, imm = 0): number => sType(0x27, 3, rs1, rs2, imm);
const opFp =
  (funct7: number, funct3: number) =>
  (rd: Reg, rs1: Reg, rs2: Reg = 0): number =>
    rType(0x53, funct3, funct7, rd, rs1, rs2);
export const fmv_x_w = (rd: Reg, rs1: Reg): number => opFp(0x70, 0)(rd, rs1);
export const fmv_w_x = (rd: Reg, rs1: Reg): number => opFp(0x78, 0)(rd, rs1);
export const fmv_x_d = (rd: Reg, rs1: Reg): number => opFp(0x71, 0)(rd, rs1);
export const fmv_d_x = (rd: Reg, rs1: Reg): number => opFp(0x79, 0)(rd, rs1);
export const fsgnj_s = opFp(0x10, 0);
export const fsgnjn_s = opFp(0x10, 1);
export const fsgnjx_s = opFp(0x10, 2);
export const fsgnj_d = opFp(0x11, 0);
export const fsgnjn_d = opFp(0x11, 1);
export const fsgnjx_d = opFp(0x11, 2);
/** fadd.d rd, rs1, rs2 with rounding mode rm (7 = dynamic). */
export const fadd_d = (rd: Reg, rs1: Reg, rs2: Reg, rm = 7): number => rType(0x53, rm, 0x01, rd, rs1, rs2);

// ---- pseudo-instructions -----------------------------------------------------------------------------

export const nop = (): number => addi(0, 0, 0);
export const mv = (rd: Reg, rs: Reg): number => addi(rd, rs, 0);
export const j = (offset: number): number => jal(0, offset);
export const ret = (): number => jalr(0, 'ra', 0);

const sext12 = (v: bigint): bigint => BigInt.asIntN(12, v);

/** Loads any 64-bit constant into rd (lui/addiw for 32-bit values, else shift-and-add steps). */
export function li(rd: Reg, value: bigint | number): number[] {
  const v = BigInt.asIntN(64, BigInt(value));
  if (v >= -(1n << 31n) && v < 1n << 31n) {
    const lo = sext12(v);
    const hi = Number(BigInt.asUintN(20, (v - lo) >> 12n));
    if (hi === 0) return [addi(rd, 0, Number(lo))];
    return lo === 0n ? [lui(rd, hi)] : [lui(rd, hi), addiw(rd, rd, Number(lo))];
  }
  const lo = sext12(v);
  const rest = (v - lo) >> 12n;
  const seq = [...li(rd, rest), slli(rd, rd, 12)];
  if (lo !== 0n) seq.push(addi(rd, rd, Number(lo)));
  return seq;
}

// ---- assembling --------------------------------------------------------------------------------------

/** Flattens items into little-endian bytes: numbers are 32-bit words, parcels 16-bit halves. */
export function assemble(items: readonly Item[]): Uint8Array {
  const out: number[] = [];
  const walk = (list: readonly Item[]): void => {
    for (const it of list) {
      if (typeof it === 'number') {
        const w = it >>> 0;
        out.push(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24);
      } else if (Array.isArray(it)) {
        walk(it as readonly Item[]);
      } else {
        const p = (it as Parcel).parcel;
        out.push(p & 0xff, p >>> 8);
      }
    }
  };
  walk(items);
  return new Uint8Array(out);
}

/** Size in bytes of the assembled items (for computing branch offsets over a sequence). */
export function sizeOf(items: readonly Item[]): number {
  return assemble(items).length;
}
