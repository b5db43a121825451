/**
 * The RISC-V decoder of the JIT (jit.ts) and the disassembler (disasm.ts): one table of RV64GC
 * encodings (RV64IMAFDC, Zicsr, Zifencei, the privileged instructions), each row a mnemonic, the
 * `match`/`mask` pair that recognises it, its operands, where its immediate comes from, and what the
 * JIT may do with it. The interpreter (assembly/index.ts, assembly/rvc.ts) keeps its own switch, which
 * decode.test.ts holds to this table over every encoding class.
 *
 * Legality is the table's: an encoding that matches no row, or matches a reserved row, is not an
 * instruction (the hart raises illegal-instruction). A row may still name what the hart rejects, so the
 * disassembler can show it as objdump does: uret and dret (not implemented by our hart), c.unimp (the
 * defined-illegal all-zero parcel) and any rounding-mode field of 5 or 6 (reserved: "If the rm field is
 * set to an invalid value ... the instruction raises an illegal-instruction exception", unprivileged
 * spec, F chapter). Those decode with `legal` false. What depends on the hart's state is not the
 * decoder's to judge: the privilege of mret, sret, wfi and sfence.vma, mstatus.FS, TVM, TW and TSR, the
 * dynamic rounding mode in frm, and which CSRs exist.
 *
 * Compressed parcels decode to their c.* form, whose `base` is the 32-bit instruction it expands to
 * (unprivileged spec, "C" chapter, RVC instruction listings): the JIT translates the base, the
 * disassembler prints the c.* form.
 *
 * Pure TypeScript, no DOM: runs in workers and in Node.
 */

/**
 * An operand as the assembly syntax shows it, and where it comes from: the x or f register in rd, rs1,
 * rs2 or rs3; `imm` (decimal), `shamt` (a shift amount, hex), `upper` (the 20-bit immediate of lui and
 * auipc, hex), `mem` (imm(rs1)), `addr` ((rs1), for atomics), `target` (pc + imm), `rm` (the rounding
 * mode, not shown when dynamic), `rmExact` (the rounding mode of a conversion that is exact whatever
 * it says, not shown when rne), `csr` and `zimm` (the CSR number and the 5-bit immediate in rs1),
 * `pred` and `succ` (a fence's sets, bits 7:4 and 3:0 of its immediate).
 */
export type Operand =
  | 'xd' | 'xs1' | 'xs2'
  | 'fd' | 'fs1' | 'fs2' | 'fs3'
  | 'imm' | 'shamt' | 'upper' | 'mem' | 'addr' | 'target'
  | 'rm' | 'rmExact' | 'csr' | 'zimm' | 'pred' | 'succ';

/** How an instruction's immediate is assembled from its bits (the spec's immediate formats). */
type Immediate =
  | 'none' | 'I' | 'S' | 'B' | 'U' | 'J' | 'shamt6' | 'shamt5'
  // compressed formats (RVC), named after the instructions that use them
  | 'ci' | 'cshamt' | 'clui' | 'caddi16sp' | 'caddi4spn' | 'clw' | 'cld' | 'clwsp' | 'cldsp' | 'cswsp'
  | 'csdsp' | 'cj' | 'cb';

/**
 * Where a compressed instruction's register comes from: the full 5-bit field at bits 11:7 (`c11`) or
 * 6:2 (`c6`), a 3-bit x8–x15 field at bits 4:2 (`c4`) or 9:7 (`c9`), or a fixed register.
 */
type CompressedRegister = 'c11' | 'c6' | 'c4' | 'c9' | number;

/** What the JIT does with an instruction: translates it (`plain`), translates it and ends the block there (`ends`). */
export type JitKind = 'plain' | 'ends';

/** One row of the table. */
export interface Encoding {
  /** undefined for a reserved encoding: one the spec sets apart, which the hart rejects. */
  readonly mnemonic: string | undefined;
  readonly match: number;
  readonly mask: number;
  readonly operands: readonly Operand[];
  readonly immediate: Immediate;
  /** False when our hart raises illegal-instruction for it (uret, dret, c.unimp). */
  readonly implemented: boolean;
  /**
   * False for a legal encoding with no assembly syntax: a fence or fence.i whose reserved fields are
   * not zero, which a hart executes as the plain instruction ("base implementations shall ignore these
   * fields", FENCE) but objdump, like the spec's syntax, does not name.
   */
  readonly syntax: boolean;
  /** AMOs and LR/SC: the mnemonic takes .aq, .rl or .aqrl from bits 26:25. */
  readonly ordered: boolean;
  readonly jit: JitKind | undefined;
  /** Compressed only: the base mnemonic and where rd, rs1 and rs2 come from. */
  readonly base?: string;
  readonly rd?: CompressedRegister;
  readonly rs1?: CompressedRegister;
  readonly rs2?: CompressedRegister;
  /** Derived from the operands: which x registers the instruction writes and reads. */
  readonly writesX: boolean;
  readonly readsX1: boolean;
  readonly readsX2: boolean;
  readonly hasRm: boolean;
}

/** A decoded instruction: its row and its operand values. Register fields hold numbers 0–31. */
export class Instruction {
  constructor(
    readonly encoding: Encoding,
    readonly mnemonic: string,
    /** The bits it was decoded from: a 32-bit word, or a 16-bit parcel. */
    readonly bits: number,
    readonly length: 2 | 4,
    readonly rd: number,
    readonly rs1: number,
    readonly rs2: number,
    readonly rs3: number,
    /** The immediate, sign-extended where the format says so (lui/auipc: the value, low 12 bits 0). */
    readonly imm: number,
    readonly rm: number,
    readonly csr: number,
    /** The 32-bit instruction a compressed one expands to; itself for a 32-bit one. */
    base?: Instruction,
  ) {
    this.base = base ?? this;
  }

  readonly base: Instruction;

  /** An atomic's aq and rl bits (26:25): 0 none, 1 rl, 2 aq, 3 both. */
  get ordering(): number {
    return (this.bits >>> 25) & 3;
  }

  /** Whether the hart executes it rather than raise illegal-instruction (see the file comment for what else it checks). */
  get legal(): boolean {
    return this.encoding.implemented && !(this.encoding.hasRm && (this.rm === 5 || this.rm === 6));
  }
}

// ---- the table -----------------------------------------------------------------------------------

interface RowOptions {
  readonly jit?: JitKind;
  readonly implemented?: false;
  readonly syntax?: false;
  readonly ordered?: true;
  readonly base?: string;
  readonly rd?: CompressedRegister;
  readonly rs1?: CompressedRegister;
  readonly rs2?: CompressedRegister;
}

function row(
  mnemonic: string | undefined,
  match: number,
  mask: number,
  operands: string,
  immediate: Immediate = 'none',
  options: RowOptions = {},
): Encoding {
  const list = (operands === '' ? [] : operands.split(' ')) as Operand[];
  return {
    mnemonic,
    match: match >>> 0,
    mask: mask >>> 0,
    operands: list,
    immediate,
    implemented: options.implemented ?? true,
    syntax: options.syntax ?? true,
    ordered: options.ordered ?? false,
    jit: options.jit,
    base: options.base,
    rd: options.rd,
    rs1: options.rs1,
    rs2: options.rs2,
    writesX: list.includes('xd'),
    readsX1: list.includes('xs1') || list.includes('mem') || list.includes('addr'),
    readsX2: list.includes('xs2'),
    hasRm: list.includes('rm') || list.includes('rmExact'),
  };
}

/** A reserved encoding: matched first, so that the instruction it would otherwise look like does not claim it. */
const reserved = (match: number, mask: number): Encoding => row(undefined, match, mask, '');

// Masks of the fixed fields: opcode; + funct3; + funct7; + rs2 (a unary OP-FP); the whole word.
const OPC = 0x7f;
const F3 = 0x707f;
const F7 = 0xfe00_707f;
const F7_RM = 0xfe00_007f; // funct7 with the rm field free
const F7_RS2_RM = 0xfff0_007f; // funct7 and rs2 with the rm field free
const F7_RS2 = 0xfff0_707f;
const ALL = 0xffff_ffff;
const PLAIN: RowOptions = { jit: 'plain' };

const FP_FORMATS = [['s', 0], ['d', 1]] as const;
const INTEGER_TYPES = ['w', 'wu', 'l', 'lu'] as const;
const AMO_OPS = [
  ['sc', 0b00011], ['amoswap', 0b00001], ['amoadd', 0b00000], ['amoxor', 0b00100], ['amoand', 0b01100],
  ['amoor', 0b01000], ['amomin', 0b10000], ['amomax', 0b10100], ['amominu', 0b11000], ['amomaxu', 0b11100],
] as const;

/** The 32-bit instructions, in the order of the spec's opcode map (RV64GC: "RV32/64G Instruction Set Listings"). */
const WORD_TABLE: readonly Encoding[] = [
  // LOAD
  row('lb', 0x0003, F3, 'xd mem', 'I', PLAIN),
  row('lh', 0x1003, F3, 'xd mem', 'I', PLAIN),
  row('lw', 0x2003, F3, 'xd mem', 'I', PLAIN),
  row('ld', 0x3003, F3, 'xd mem', 'I', PLAIN),
  row('lbu', 0x4003, F3, 'xd mem', 'I', PLAIN),
  row('lhu', 0x5003, F3, 'xd mem', 'I', PLAIN),
  row('lwu', 0x6003, F3, 'xd mem', 'I', PLAIN),
  // LOAD-FP
  row('flw', 0x2007, F3, 'fd mem', 'I'),
  row('fld', 0x3007, F3, 'fd mem', 'I'),
  // MISC-MEM. The named forms have rd = rs1 = 0 (and fence fm = 0); the other forms are the same
  // instructions with reserved fields set, which a hart must accept and objdump does not name.
  row('fence', 0x000f, 0xf00f_ffff, 'pred succ', 'I', PLAIN),
  row('fence.tso', 0x8330_000f, ALL, '', 'none', PLAIN),
  row('fence', 0x000f, F3, 'pred succ', 'I', { jit: 'plain', syntax: false }),
  // fence.i is left to the interpreter, which drops the translations
  row('fence.i', 0x100f, ALL, ''),
  row('fence.i', 0x100f, F3, '', 'none', { syntax: false }),
  // OP-IMM (RV64: a 6-bit shamt, the funct6 above it)
  row('addi', 0x0013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('slli', 0x1013, 0xfc00_707f, 'xd xs1 shamt', 'shamt6', PLAIN),
  row('slti', 0x2013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('sltiu', 0x3013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('xori', 0x4013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('srli', 0x5013, 0xfc00_707f, 'xd xs1 shamt', 'shamt6', PLAIN),
  row('srai', 0x4000_5013, 0xfc00_707f, 'xd xs1 shamt', 'shamt6', PLAIN),
  row('ori', 0x6013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('andi', 0x7013, F3, 'xd xs1 imm', 'I', PLAIN),
  row('auipc', 0x0017, OPC, 'xd upper', 'U', PLAIN),
  // OP-IMM-32 (a 5-bit shamt: shamt[5] set is reserved)
  row('addiw', 0x001b, F3, 'xd xs1 imm', 'I', PLAIN),
  row('slliw', 0x101b, F7, 'xd xs1 shamt', 'shamt5', PLAIN),
  row('srliw', 0x501b, F7, 'xd xs1 shamt', 'shamt5', PLAIN),
  row('sraiw', 0x4000_501b, F7, 'xd xs1 shamt', 'shamt5', PLAIN),
  // STORE, STORE-FP
  row('sb', 0x0023, F3, 'xs2 mem', 'S', PLAIN),
  row('sh', 0x1023, F3, 'xs2 mem', 'S', PLAIN),
  row('sw', 0x2023, F3, 'xs2 mem', 'S', PLAIN),
  row('sd', 0x3023, F3, 'xs2 mem', 'S', PLAIN),
  row('fsw', 0x2027, F3, 'fs2 mem', 'S'),
  row('fsd', 0x3027, F3, 'fs2 mem', 'S'),
  // AMO: lr has rs2 = 0
  ...(['w', 'd'] as const).flatMap((width, i) => {
    const funct3 = (2 + i) << 12;
    return [
      row(`lr.${width}`, 0x1000_002f | funct3, 0xf9f0_707f, 'xd addr', 'none', { ordered: true }),
      ...AMO_OPS.map(([op, funct5]) =>
        row(`${op}.${width}`, (funct5 << 27) | funct3 | 0x2f, 0xf800_707f, 'xd xs2 addr', 'none', { ordered: true })),
    ];
  }),
  // OP and M (mulh, mulhsu and mulhu are left to the interpreter)
  row('add', 0x0033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sub', 0x4000_0033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sll', 0x1033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('slt', 0x2033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sltu', 0x3033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('xor', 0x4033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('srl', 0x5033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sra', 0x4000_5033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('or', 0x6033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('and', 0x7033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('mul', 0x0200_0033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('mulh', 0x0200_1033, F7, 'xd xs1 xs2'),
  row('mulhsu', 0x0200_2033, F7, 'xd xs1 xs2'),
  row('mulhu', 0x0200_3033, F7, 'xd xs1 xs2'),
  row('div', 0x0200_4033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('divu', 0x0200_5033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('rem', 0x0200_6033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('remu', 0x0200_7033, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('lui', 0x0037, OPC, 'xd upper', 'U', PLAIN),
  // OP-32
  row('addw', 0x003b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('subw', 0x4000_003b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sllw', 0x103b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('srlw', 0x503b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('sraw', 0x4000_503b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('mulw', 0x0200_003b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('divw', 0x0200_403b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('divuw', 0x0200_503b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('remw', 0x0200_603b, F7, 'xd xs1 xs2', 'none', PLAIN),
  row('remuw', 0x0200_703b, F7, 'xd xs1 xs2', 'none', PLAIN),
  // MADD, MSUB, NMSUB, NMADD (fmt 2 and 3, H and Q, are not RV64GC)
  ...FP_FORMATS.flatMap(([p, fmt]) =>
    (['fmadd', 'fmsub', 'fnmsub', 'fnmadd'] as const).map((op, i) =>
      row(`${op}.${p}`, (fmt << 25) | 0x43 | (i << 2), 0x0600_007f, 'fd fs1 fs2 fs3 rm'))),
  // OP-FP
  ...FP_FORMATS.flatMap(([p, fmt]) => {
    const f7 = (funct5: number): number => ((funct5 << 2) | fmt) << 25 | 0x53;
    return [
      row(`fadd.${p}`, f7(0b00000), F7_RM, 'fd fs1 fs2 rm'),
      row(`fsub.${p}`, f7(0b00001), F7_RM, 'fd fs1 fs2 rm'),
      row(`fmul.${p}`, f7(0b00010), F7_RM, 'fd fs1 fs2 rm'),
      row(`fdiv.${p}`, f7(0b00011), F7_RM, 'fd fs1 fs2 rm'),
      row(`fsqrt.${p}`, f7(0b01011), F7_RS2_RM, 'fd fs1 rm'),
      row(`fsgnj.${p}`, f7(0b00100), F7, 'fd fs1 fs2'),
      row(`fsgnjn.${p}`, f7(0b00100) | 0x1000, F7, 'fd fs1 fs2'),
      row(`fsgnjx.${p}`, f7(0b00100) | 0x2000, F7, 'fd fs1 fs2'),
      row(`fmin.${p}`, f7(0b00101), F7, 'fd fs1 fs2'),
      row(`fmax.${p}`, f7(0b00101) | 0x1000, F7, 'fd fs1 fs2'),
      // fcvt.s.d (fmt S, rs2 = D) rounds; fcvt.d.s (fmt D, rs2 = S) is exact
      fmt === 0
        ? row('fcvt.s.d', f7(0b01000) | (1 << 20), F7_RS2_RM, 'fd fs1 rm')
        : row('fcvt.d.s', f7(0b01000), F7_RS2_RM, 'fd fs1 rmExact'),
      row(`fle.${p}`, f7(0b10100), F7, 'xd fs1 fs2'),
      row(`flt.${p}`, f7(0b10100) | 0x1000, F7, 'xd fs1 fs2'),
      row(`feq.${p}`, f7(0b10100) | 0x2000, F7, 'xd fs1 fs2'),
      ...INTEGER_TYPES.map((type, rs2) => row(`fcvt.${type}.${p}`, f7(0b11000) | (rs2 << 20), F7_RS2_RM, 'xd fs1 rm')),
      // fcvt.d.w and fcvt.d.wu are exact; the other conversions from an integer round
      ...INTEGER_TYPES.map((type, rs2) =>
        row(`fcvt.${p}.${type}`, f7(0b11010) | (rs2 << 20), F7_RS2_RM, fmt === 1 && rs2 < 2 ? 'fd xs1 rmExact' : 'fd xs1 rm')),
      row(fmt ? 'fmv.x.d' : 'fmv.x.w', f7(0b11100), F7_RS2, 'xd fs1'),
      row(`fclass.${p}`, f7(0b11100) | 0x1000, F7_RS2, 'xd fs1'),
      row(fmt ? 'fmv.d.x' : 'fmv.w.x', f7(0b11110), F7_RS2, 'fd xs1'),
    ];
  }),
  // BRANCH, JALR, JAL
  row('beq', 0x0063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('bne', 0x1063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('blt', 0x4063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('bge', 0x5063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('bltu', 0x6063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('bgeu', 0x7063, F3, 'xs1 xs2 target', 'B', PLAIN),
  row('jalr', 0x0067, F3, 'xd mem', 'I', { jit: 'ends' }),
  row('jal', 0x006f, OPC, 'xd target', 'J', { jit: 'ends' }),
  // SYSTEM
  row('ecall', 0x0000_0073, ALL, ''),
  row('ebreak', 0x0010_0073, ALL, ''),
  row('uret', 0x0020_0073, ALL, '', 'none', { implemented: false }),
  row('sret', 0x1020_0073, ALL, ''),
  row('mret', 0x3020_0073, ALL, ''),
  row('dret', 0x7b20_0073, ALL, '', 'none', { implemented: false }),
  row('wfi', 0x1050_0073, ALL, ''),
  row('sfence.vma', 0x1200_0073, 0xfe00_7fff, 'xs1 xs2'),
  row('csrrw', 0x1073, F3, 'xd csr xs1'),
  row('csrrs', 0x2073, F3, 'xd csr xs1'),
  row('csrrc', 0x3073, F3, 'xd csr xs1'),
  row('csrrwi', 0x5073, F3, 'xd csr zimm'),
  row('csrrsi', 0x6073, F3, 'xd csr zimm'),
  row('csrrci', 0x7073, F3, 'xd csr zimm'),
];

const C_FUNCT3 = 0xe003; // quadrant and funct3
const C_FUNCT4 = 0xf003;
const C_FUNCT6_2 = 0xfc63; // funct6 and funct2 (c.sub … c.addw)
const C_FUNCT3_2 = 0xec03; // funct3 and bits 11:10 (c.srli, c.srai, c.andi)
const C_RD = 0x0f80;
const C_RS2 = 0x007c;
const C_BIT12 = 0x1000;

/**
 * The compressed instructions of RV64GC (no c.flw, c.fsw, c.jal: those are RV32's), quadrant by
 * quadrant; reserved encodings come before the instruction they would otherwise look like. HINTs
 * (rd = x0, a zero immediate) are instructions and decode as such.
 */
const PARCEL_TABLE: readonly Encoding[] = [
  // quadrant 0
  row('c.unimp', 0x0000, 0xffff, '', 'none', { implemented: false }),
  reserved(0x0000, C_FUNCT3 | 0x1fe0), // c.addi4spn with nzuimm = 0
  row('c.addi4spn', 0x0000, C_FUNCT3, 'xd xs1 imm', 'caddi4spn', { base: 'addi', rd: 'c4', rs1: 2 }),
  row('c.fld', 0x2000, C_FUNCT3, 'fd mem', 'cld', { base: 'fld', rd: 'c4', rs1: 'c9' }),
  row('c.lw', 0x4000, C_FUNCT3, 'xd mem', 'clw', { base: 'lw', rd: 'c4', rs1: 'c9' }),
  row('c.ld', 0x6000, C_FUNCT3, 'xd mem', 'cld', { base: 'ld', rd: 'c4', rs1: 'c9' }),
  reserved(0x8000, C_FUNCT3),
  row('c.fsd', 0xa000, C_FUNCT3, 'fs2 mem', 'cld', { base: 'fsd', rs1: 'c9', rs2: 'c4' }),
  row('c.sw', 0xc000, C_FUNCT3, 'xs2 mem', 'clw', { base: 'sw', rs1: 'c9', rs2: 'c4' }),
  row('c.sd', 0xe000, C_FUNCT3, 'xs2 mem', 'cld', { base: 'sd', rs1: 'c9', rs2: 'c4' }),
  // quadrant 1
  row('c.addi', 0x0001, C_FUNCT3, 'xd imm', 'ci', { base: 'addi', rd: 'c11', rs1: 'c11' }),
  reserved(0x2001, C_FUNCT3 | C_RD), // c.addiw with rd = x0
  row('c.addiw', 0x2001, C_FUNCT3, 'xd imm', 'ci', { base: 'addiw', rd: 'c11', rs1: 'c11' }),
  row('c.li', 0x4001, C_FUNCT3, 'xd imm', 'ci', { base: 'addi', rd: 'c11', rs1: 0 }),
  reserved(0x6101, 0xffff), // c.addi16sp with nzimm = 0
  row('c.addi16sp', 0x6101, C_FUNCT3 | C_RD, 'xd imm', 'caddi16sp', { base: 'addi', rd: 2, rs1: 2 }),
  reserved(0x6001, C_FUNCT3 | C_BIT12 | C_RS2), // c.lui with nzimm = 0
  row('c.lui', 0x6001, C_FUNCT3, 'xd upper', 'clui', { base: 'lui', rd: 'c11' }),
  // shamt = 0 is the 128-bit shift's encoding; on RV64 a HINT that objdump calls c.srli64 / c.srai64
  row('c.srli64', 0x8001, C_FUNCT3_2 | C_BIT12 | C_RS2, 'xd', 'cshamt', { base: 'srli', rd: 'c9', rs1: 'c9' }),
  row('c.srli', 0x8001, C_FUNCT3_2, 'xd shamt', 'cshamt', { base: 'srli', rd: 'c9', rs1: 'c9' }),
  row('c.srai64', 0x8401, C_FUNCT3_2 | C_BIT12 | C_RS2, 'xd', 'cshamt', { base: 'srai', rd: 'c9', rs1: 'c9' }),
  row('c.srai', 0x8401, C_FUNCT3_2, 'xd shamt', 'cshamt', { base: 'srai', rd: 'c9', rs1: 'c9' }),
  row('c.andi', 0x8801, C_FUNCT3_2, 'xd imm', 'ci', { base: 'andi', rd: 'c9', rs1: 'c9' }),
  row('c.sub', 0x8c01, C_FUNCT6_2, 'xd xs2', 'none', { base: 'sub', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  row('c.xor', 0x8c21, C_FUNCT6_2, 'xd xs2', 'none', { base: 'xor', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  row('c.or', 0x8c41, C_FUNCT6_2, 'xd xs2', 'none', { base: 'or', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  row('c.and', 0x8c61, C_FUNCT6_2, 'xd xs2', 'none', { base: 'and', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  row('c.subw', 0x9c01, C_FUNCT6_2, 'xd xs2', 'none', { base: 'subw', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  row('c.addw', 0x9c21, C_FUNCT6_2, 'xd xs2', 'none', { base: 'addw', rd: 'c9', rs1: 'c9', rs2: 'c4' }),
  reserved(0x9c41, 0xfc43), // funct6 100111 with funct2 10 and 11
  row('c.j', 0xa001, C_FUNCT3, 'target', 'cj', { base: 'jal', rd: 0 }),
  row('c.beqz', 0xc001, C_FUNCT3, 'xs1 target', 'cb', { base: 'beq', rs1: 'c9', rs2: 0 }),
  row('c.bnez', 0xe001, C_FUNCT3, 'xs1 target', 'cb', { base: 'bne', rs1: 'c9', rs2: 0 }),
  // quadrant 2
  row('c.slli64', 0x0002, C_FUNCT3 | C_BIT12 | C_RS2, 'xd', 'cshamt', { base: 'slli', rd: 'c11', rs1: 'c11' }),
  row('c.slli', 0x0002, C_FUNCT3, 'xd shamt', 'cshamt', { base: 'slli', rd: 'c11', rs1: 'c11' }),
  row('c.fldsp', 0x2002, C_FUNCT3, 'fd mem', 'cldsp', { base: 'fld', rd: 'c11', rs1: 2 }),
  reserved(0x4002, C_FUNCT3 | C_RD), // c.lwsp with rd = x0
  row('c.lwsp', 0x4002, C_FUNCT3, 'xd mem', 'clwsp', { base: 'lw', rd: 'c11', rs1: 2 }),
  reserved(0x6002, C_FUNCT3 | C_RD), // c.ldsp with rd = x0
  row('c.ldsp', 0x6002, C_FUNCT3, 'xd mem', 'cldsp', { base: 'ld', rd: 'c11', rs1: 2 }),
  reserved(0x8002, 0xffff), // c.jr with rs1 = x0
  row('c.jr', 0x8002, C_FUNCT4 | C_RS2, 'xs1', 'none', { base: 'jalr', rd: 0, rs1: 'c11' }),
  row('c.mv', 0x8002, C_FUNCT4, 'xd xs2', 'none', { base: 'add', rd: 'c11', rs1: 0, rs2: 'c6' }),
  row('c.ebreak', 0x9002, 0xffff, '', 'none', { base: 'ebreak' }),
  row('c.jalr', 0x9002, C_FUNCT4 | C_RS2, 'xs1', 'none', { base: 'jalr', rd: 1, rs1: 'c11' }),
  row('c.add', 0x9002, C_FUNCT4, 'xd xs2', 'none', { base: 'add', rd: 'c11', rs1: 'c11', rs2: 'c6' }),
  row('c.fsdsp', 0xa002, C_FUNCT3, 'fs2 mem', 'csdsp', { base: 'fsd', rs1: 2, rs2: 'c6' }),
  row('c.swsp', 0xc002, C_FUNCT3, 'xs2 mem', 'cswsp', { base: 'sw', rs1: 2, rs2: 'c6' }),
  row('c.sdsp', 0xe002, C_FUNCT3, 'xs2 mem', 'csdsp', { base: 'sd', rs1: 2, rs2: 'c6' }),
];

/** Every row, for tests and documentation: the 32-bit instructions, then the compressed ones. */
export const ENCODINGS: readonly Encoding[] = [...WORD_TABLE, ...PARCEL_TABLE];

// ---- lookup ----------------------------------------------------------------------------------------

/**
 * The rows that can match, by the bits every row fixes: a 32-bit word's opcode[6:2] and funct3 (256
 * lists), a parcel's quadrant and funct3 (32 lists). A row whose mask leaves some of those bits free is
 * in every list it can match; each list keeps the table's order, so the first row that matches wins.
 */
const WORD_KEY_MASK = 0x707c;
const wordKey = (w: number): number => ((w >>> 2) & 31) | ((w >>> 7) & 0xe0);
const PARCEL_KEY_MASK = 0xe003;
const parcelKey = (c: number): number => (c & 3) | ((c >>> 11) & 0x1c);

/** The rows of one list, with their match and mask side by side for the search. */
interface Candidates {
  readonly rows: readonly Encoding[];
  readonly match: Uint32Array;
  readonly mask: Uint32Array;
}

function index(table: readonly Encoding[], size: number, keyMask: number, bitsOf: (key: number) => number): Candidates[] {
  return Array.from({ length: size }, (_, key) => {
    const bits = bitsOf(key);
    const rows = table.filter((e) => ((bits ^ e.match) & e.mask & keyMask) === 0);
    return { rows, match: Uint32Array.from(rows, (e) => e.match), mask: Uint32Array.from(rows, (e) => e.mask) };
  });
}

const WORD_INDEX = index(WORD_TABLE, 256, WORD_KEY_MASK, (key) => ((key & 31) << 2) | 3 | ((key >> 5) << 12));
const PARCEL_INDEX = index(PARCEL_TABLE, 32, PARCEL_KEY_MASK, (key) => (key & 3) | ((key >> 2) << 13));
const BY_MNEMONIC = new Map(WORD_TABLE.filter((e) => e.syntax).map((e) => [e.mnemonic!, e]));

/** Bits hi..lo of w, shifted down (unsigned). */
const bits = (w: number, hi: number, lo: number): number => (w >>> lo) & ((1 << (hi - lo + 1)) - 1);
/** Sign-extends the low `width` bits of v. */
const sext = (v: number, width: number): number => (v << (32 - width)) >> (32 - width);

function wordImmediate(kind: Immediate, w: number): number {
  switch (kind) {
    case 'I': return w >> 20;
    case 'S': return ((w >> 25) << 5) | bits(w, 11, 7);
    case 'B': return sext((bits(w, 31, 31) << 12) | (bits(w, 7, 7) << 11) | (bits(w, 30, 25) << 5) | (bits(w, 11, 8) << 1), 13);
    case 'U': return w & 0xffff_f000;
    case 'J': return sext((bits(w, 31, 31) << 20) | (bits(w, 19, 12) << 12) | (bits(w, 20, 20) << 11) | (bits(w, 30, 21) << 1), 21);
    case 'shamt6': return bits(w, 25, 20);
    case 'shamt5': return bits(w, 24, 20);
    default: return 0;
  }
}

function parcelImmediate(kind: Immediate, c: number): number {
  switch (kind) {
    case 'ci': return sext((bits(c, 12, 12) << 5) | bits(c, 6, 2), 6);
    case 'cshamt': return (bits(c, 12, 12) << 5) | bits(c, 6, 2);
    case 'clui': return sext((bits(c, 12, 12) << 5) | bits(c, 6, 2), 6) << 12;
    case 'caddi16sp':
      return sext((bits(c, 12, 12) << 9) | (bits(c, 6, 6) << 4) | (bits(c, 5, 5) << 6) | (bits(c, 4, 3) << 7) | (bits(c, 2, 2) << 5), 10);
    case 'caddi4spn': return (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 3);
    // uimm[5:3] in c[12:10] with uimm[2|6] (word) or uimm[7:6] (double) in c[6:5]
    case 'clw': return (bits(c, 12, 10) << 3) | (bits(c, 6, 6) << 2) | (bits(c, 5, 5) << 6);
    case 'cld': return (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
    case 'clwsp': return (bits(c, 12, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6);
    case 'cldsp': return (bits(c, 12, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
    case 'cswsp': return (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);
    case 'csdsp': return (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
    case 'cj':
      return sext((bits(c, 12, 12) << 11) | (bits(c, 11, 11) << 4) | (bits(c, 10, 9) << 8) | (bits(c, 8, 8) << 10) |
        (bits(c, 7, 7) << 6) | (bits(c, 6, 6) << 7) | (bits(c, 5, 3) << 1) | (bits(c, 2, 2) << 5), 12);
    case 'cb':
      return sext((bits(c, 12, 12) << 8) | (bits(c, 11, 10) << 3) | (bits(c, 6, 5) << 6) | (bits(c, 4, 3) << 1) | (bits(c, 2, 2) << 5), 9);
    default: return 0;
  }
}

function parcelRegister(from: CompressedRegister | undefined, c: number): number {
  switch (from) {
    case undefined: return 0;
    case 'c11': return bits(c, 11, 7);
    case 'c6': return bits(c, 6, 2);
    case 'c4': return 8 + bits(c, 4, 2);
    case 'c9': return 8 + bits(c, 9, 7);
    default: return from;
  }
}

function find(list: Candidates, bits: number): Encoding | undefined {
  const { match, mask } = list;
  for (let k = 0; k < match.length; k++) {
    if (((bits ^ match[k]!) & mask[k]!) === 0) {
      const e = list.rows[k]!;
      return e.mnemonic === undefined ? undefined : e;
    }
  }
  return undefined;
}

/**
 * Parcels decoded so far (null: not an instruction). There are only 2^16 of them and the JIT decodes
 * the same ones over and over; the interpreter keeps a table of them too (RVC_TABLE, built in
 * assembly/index.ts attach()). Instructions are immutable, so callers share them. (Words are not kept:
 * a cache of recent words measured slower than decoding them again, as every instruction it held
 * lived long enough to be promoted out of V8's young generation.)
 */
const PARCELS = new Array<Instruction | null | undefined>(0x10000);

/**
 * Decodes one instruction. `insn` holds its bits: if its low two bits are not 0b11 only the low 16 bits
 * (a compressed parcel) are read. undefined when the bits are no RV64GC instruction (a reserved or
 * unknown encoding, or a 48-bit or longer one); an Instruction whose `legal` is false for what the table
 * names but the hart rejects.
 */
export function decode(insn: number): Instruction | undefined {
  if ((insn & 3) !== 3) return decodeParcel(insn & 0xffff);
  if ((insn & 0x1c) === 0x1c) return undefined;
  const w = insn >>> 0;
  const e = find(WORD_INDEX[wordKey(w)]!, w);
  if (!e) return undefined;
  return new Instruction(e, e.mnemonic!, w, 4, bits(w, 11, 7), bits(w, 19, 15), bits(w, 24, 20), w >>> 27,
    wordImmediate(e.immediate, w), bits(w, 14, 12), w >>> 20);
}

function decodeParcel(c: number): Instruction | undefined {
  const known = PARCELS[c];
  if (known !== undefined) return known ?? undefined;
  const i = decodeParcelOnce(c);
  PARCELS[c] = i ?? null;
  return i;
}

function decodeParcelOnce(c: number): Instruction | undefined {
  const e = find(PARCEL_INDEX[parcelKey(c)]!, c);
  if (!e) return undefined;
  const rd = parcelRegister(e.rd, c);
  const rs1 = parcelRegister(e.rs1, c);
  const rs2 = parcelRegister(e.rs2, c);
  const imm = parcelImmediate(e.immediate, c);
  const baseRow = e.base === undefined ? undefined : BY_MNEMONIC.get(e.base)!;
  const base = baseRow && new Instruction(baseRow, e.base!, c, 2, rd, rs1, rs2, 0, imm, 0, 0);
  return new Instruction(e, e.mnemonic!, c, 2, rd, rs1, rs2, 0, imm, 0, 0, base);
}

/** The x registers an instruction reads (x0 included; a caller that keeps registers skips it). */
export function xSources(i: Instruction): number[] {
  const e = i.encoding;
  if (e.readsX1) return e.readsX2 ? [i.rs1, i.rs2] : [i.rs1];
  return e.readsX2 ? [i.rs2] : [];
}

/** The x register an instruction writes, or 0 (x0: none). */
export function xDestination(i: Instruction): number {
  return i.encoding.writesX ? i.rd : 0;
}

/** The pc-relative target of a jal or conditional branch at `pc`, wrapped to 64 bits; undefined for anything else. */
export function relativeTarget(i: Instruction, pc: bigint): bigint | undefined {
  return i.encoding.operands.includes('target') ? BigInt.asUintN(64, pc + BigInt(i.imm)) : undefined;
}
