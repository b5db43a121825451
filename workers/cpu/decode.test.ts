// The agreement test (docs/decoder.md): the interpreter (assembly/index.ts, which decodes with its own
// switch), the JIT's decoder and the disassembler (both decode.ts) must agree on which encodings are
// instructions and on their operands. The interpreter is asked by running each encoding in the test
// machine and watching for an illegal-instruction trap at it; the JIT's view is decode() as jit.ts uses
// it; the disassembler's is whether it names the encoding.
import { beforeAll, describe, expect, it } from 'vitest';
import { ENCODINGS, decode, xDestination, xSources, type Encoding, type Instruction } from './decode.ts';
import { disassemble } from './disasm.ts';
import * as L from './layout.ts';
import { CAUSE, CODE, DATA, M_TRAP, MSTATUS, Machine, PRIV_M } from './test-support/machine.ts';

const INTERPRETER = 0;
const JIT = 1;
const EBREAK = 0x0010_0073;
const JAL_NEXT = 0x0040_006f; // jal zero, .+4
/**
 * Where the instruction under test goes: after a jump to it, so that the JIT finds it at a block head
 * whose page is already in the fetch TLB (the core looks a pc up in its block cache only then).
 */
const INSN = CODE + 4n;
/** Every x register but x0 points into DATA, 8 bytes apart: loads, stores and atomics with any 12-bit offset stay in RAM. */
const registerValue = (r: number): bigint => DATA + 0x800n + 8n * BigInt(r);
const hex = (v: number): string => '0x' + (v >>> 0).toString(16).padStart(8, '0');

/** mstatus after a reset (its read-only fields included). */
let resetMstatus: bigint | undefined;

/** Bytes of DATA that loads, stores and atomics reach from the registers (registerValue ± 2 KiB). */
const DATA_WINDOW = 0x1200;

/**
 * Places the instruction (then an ebreak) at INSN in the machine's state in which the decoder's
 * legality is the whole story (file comment of decode.ts): M-mode, the FPU on, frm = rne (so a dynamic
 * rounding mode is a valid one), and a stale trap that cannot pass for a new one. The interpreter's
 * machine is reset only when the last instruction left M-mode (mret, sret), since a reset per run costs
 * more than the run; a JIT machine is reset every time, so that it starts with no translations.
 */
function prepare(mm: Machine, bytes: Uint8Array, jitThreshold: number): void {
  if (mm.privilege !== PRIV_M || jitThreshold !== INTERPRETER) mm.boot([], { jitThreshold });
  resetMstatus ??= mm.csr('mstatus');
  mm.writeBytes(CODE, wordBytes(JAL_NEXT));
  mm.writeBytes(INSN, bytes);
  mm.writeBytes(INSN + BigInt(bytes.length), wordBytes(EBREAK));
  mm.writeBytes(DATA, new Uint8Array(DATA_WINDOW));
  for (let r = 1; r < 32; r++) mm.setX(r, registerValue(r));
  mm.setCsr('mstatus', resetMstatus | MSTATUS.FS);
  mm.setCsr('fcsr', 0n);
  mm.setCsr('mtvec', M_TRAP);
  mm.setCsr('mcause', 0xffn);
  mm.setCsr('mepc', 0n);
  mm.setCsr('instret', 0n);
  mm.resumeAt(CODE);
}

const isParcel = (e: Encoding): boolean => (e.match & 3) !== 3;
const wordBytes = (w: number): Uint8Array => new Uint8Array(new Uint32Array([w >>> 0]).buffer);
const parcelBytes = (c: number): Uint8Array => new Uint8Array(new Uint16Array([c]).buffer);

/** Whether the interpreter raises illegal-instruction for the instruction at INSN. */
function interpreterRejects(mm: Machine, bytes: Uint8Array): boolean {
  prepare(mm, bytes, INTERPRETER);
  const { trap } = mm.runToHalt(20);
  return trap?.level === 'M' && trap.cause === CAUSE.illegalInstruction && trap.epc === INSN;
}

/** Whether the disassembler names the encoding (rather than `.4byte` / `.2byte`). */
const named = (bits: number): boolean => !/^\.[24]byte /.test(disassemble(bits));

/**
 * What each view says of an encoding, and the documented ways the disassembler's names depart from
 * legality: it names what the hart rejects (uret, dret, c.unimp, a reserved rounding mode) and does not
 * name a fence whose reserved fields are set (legal, no syntax).
 */
function disagreement(bits: number, interpreterIllegal: boolean): string | undefined {
  const i = decode(bits);
  const legal = i?.legal ?? false;
  const text = disassemble(bits);
  if (legal === interpreterIllegal) {
    return `${hex(bits)} (${text}): decoder says ${legal ? 'legal' : 'illegal'}, the interpreter ${interpreterIllegal ? 'traps' : 'executes it'}`;
  }
  if (named(bits) && !legal && !namedButIllegal(i)) return `${hex(bits)}: the disassembler names an illegal encoding: ${text}`;
  if (!named(bits) && legal && !(i!.mnemonic === 'fence' || i!.mnemonic === 'fence.i')) {
    return `${hex(bits)}: the disassembler does not name a legal ${i!.mnemonic}`;
  }
  return undefined;
}

function namedButIllegal(i: Instruction | undefined): boolean {
  if (i === undefined) return false;
  return ['uret', 'dret', 'c.unimp'].includes(i.mnemonic) || (i.encoding.hasRm && (i.rm === 5 || i.rm === 6));
}

/** The mnemonic and the operand fields its row uses (an I-type's bits 24:20 are immediate, not rs2). */
function operands(i: Instruction): string {
  const uses = (...names: string[]): boolean => i.encoding.operands.some((o) => names.includes(o));
  return [
    i.mnemonic,
    uses('xd', 'fd') ? `rd=${i.rd}` : '',
    uses('xs1', 'fs1', 'mem', 'addr') ? `rs1=${i.rs1}` : '',
    uses('xs2', 'fs2') ? `rs2=${i.rs2}` : '',
    uses('fs3') ? `rs3=${i.rs3}` : '',
    uses('imm', 'shamt', 'upper', 'mem', 'target') ? `imm=${i.imm}` : '',
    uses('rm', 'rmExact') ? `rm=${i.rm}` : '',
  ].filter((t) => t !== '').join(' ');
}

let m: Machine;
beforeAll(async () => {
  m = await Machine.create(undefined, INTERPRETER);
  m.boot([], { jitThreshold: INTERPRETER });
});

describe('decoder, interpreter and disassembler agree on legality', () => {
  it('for every major opcode × funct3 × funct7 (rd = a0, rs1 = a1, rs2 = a2), CSR instructions apart', () => {
    const problems: string[] = [];
    let checked = 0;
    for (let opcode = 3; opcode < 128; opcode += 4) {
      for (let funct3 = 0; funct3 < 8; funct3++) {
        // a CSR instruction's funct7 is part of its CSR number, whose existence is the CSR table's (the CSR test below)
        if (opcode === 0x73 && funct3 !== 0 && funct3 !== 4) continue;
        for (let funct7 = 0; funct7 < 128; funct7++) {
          const w = (funct7 << 25) | (12 << 20) | (11 << 15) | (funct3 << 12) | (10 << 7) | opcode;
          const problem = disagreement(w, interpreterRejects(m, wordBytes(w)));
          if (problem) problems.push(problem);
          checked++;
        }
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    expect(checked).toBe(32 * 8 * 128 - 6 * 128);
  });

  it('for every rs2 of OP-FP, AMO and SYSTEM (where rs2 selects the operation), with rd and rs1 zero or not', () => {
    const problems: string[] = [];
    const sweep = (opcode: number, funct3s: readonly number[], registers: readonly [number, number][]): void => {
      for (const funct3 of funct3s) {
        for (let funct7 = 0; funct7 < 128; funct7++) {
          for (let rs2 = 0; rs2 < 32; rs2++) {
            for (const [rd, rs1] of registers) {
              const w = (funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
              const problem = disagreement(w, interpreterRejects(m, wordBytes(w)));
              if (problem) problems.push(problem);
            }
          }
        }
      }
    };
    sweep(0x53, [0, 1, 2, 7], [[10, 11]]); // rm: rne, rtz, rdn (and fsgnj*/fmin/feq…'s funct3), dyn
    sweep(0x53, [5, 6], [[10, 11]]); // reserved rounding modes
    sweep(0x2f, [2, 3], [[10, 11]]);
    sweep(0x73, [0], [[0, 0], [0, 11], [10, 0]]);
    expect(problems.slice(0, 20)).toEqual([]);
  });

  it('for the CSR instructions on CSRs that exist in M-mode, and funct3 = 4', () => {
    const problems: string[] = [];
    for (const csr of [0x340 /* mscratch */, 0x140 /* sscratch */, 0x003 /* fcsr */, 0x300 /* mstatus */]) {
      for (let funct3 = 1; funct3 < 8; funct3++) {
        for (const [rd, rs1] of [[0, 0], [10, 0], [0, 11], [10, 11]] as const) {
          const w = (csr << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | 0x73;
          const problem = disagreement(w, interpreterRejects(m, wordBytes(w)));
          if (problem) problems.push(problem);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('for fences with reserved fields (fm, rd, rs1, fence.i immediate), RV64 shift amounts and edge operands', () => {
    const words = [
      0x0ff0_000f, 0x8330_000f, 0x0000_000f, 0xf000_000f, 0x0ff5_850f, 0x8335_850f, // fence / fence.tso
      0x0000_100f, 0xfff0_100f, 0x0005_850f | 0x1000, // fence.i
      0x03f5_9513, 0x0405_9513, 0x7ff5_9513, // slli shamt 63; slli shamt[6]; slli funct6 all ones
      0x4005_d513, 0x43f5_d513, 0x4405_d513, 0x2005_d513, // srai 0, 63, funct6 010001, funct6 001000
      0x01f5_951b, 0x0205_951b, 0x4205_d51b, // slliw 31; slliw shamt[5] (reserved); sraiw shamt[5]
      0x8000_0537, 0xffff_f517, 0x8000_006f, 0x7fff_f06f, 0x8000_0063, 0x7e00_0fe3, // lui/auipc/jal/branch extremes
      0x8005_8503, 0x7ff5_8503, 0x8005_b023, // loads and stores at -2048 / 2047
      0x1005_a52f, 0x1005_b52f, 0x1025_a52f, // lr.w, lr.d, lr.w with rs2 ≠ 0 (reserved)
      0x0000_0000, 0xffff_ffff, 0x0000_001f, 0x0000_003f, 0x0000_007f, // all zeros, all ones, 48/64-bit lengths
    ];
    const problems = words.flatMap((w) => disagreement(w, interpreterRejects(m, wordBytes(w))) ?? []);
    expect(problems).toEqual([]);
  });

  it('for 20000 random words', () => {
    let seed = 0x2545_f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const problems: string[] = [];
    for (let n = 0; n < 20000; n++) {
      const w = random() | 3;
      const i = decode(w);
      if (i && i.encoding.operands.includes('csr')) continue; // the CSR table's question, not the decoder's
      const problem = disagreement(w, interpreterRejects(m, wordBytes(w)));
      if (problem) problems.push(problem);
    }
    expect(problems.slice(0, 20)).toEqual([]);
  });
});

describe('compressed parcels', () => {
  let rvcTable: Uint32Array;
  beforeAll(() => {
    // The interpreter's own expansion of every parcel, as it decodes them (assembly/rvc.ts, built at attach).
    rvcTable = new Uint32Array(m.memory.buffer, L.RVC_TABLE, 0x10000).slice();
  });

  it('decode as the interpreter expands them, all 49152: the same legality, and a base with the same operands', () => {
    const problems: string[] = [];
    for (let c = 0; c < 0x10000; c++) {
      if ((c & 3) === 3) continue;
      const i = decode(c);
      const expansion = rvcTable[c]!;
      const legal = i?.legal ?? false;
      if (legal !== (expansion !== 0)) {
        problems.push(`${hex(c)} (${disassemble(c)}): decoder ${legal ? 'legal' : 'illegal'}, interpreter expands to ${hex(expansion)}`);
        continue;
      }
      if (!legal) continue;
      const want = decode(expansion)!;
      const got = i!.base;
      if (operands(got) !== operands(want) || got.encoding !== want.encoding) {
        problems.push(`${hex(c)} (${disassemble(c)}): base ${operands(got)}, interpreter ${hex(expansion)} = ${operands(want)}`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
  });

  it('trap in the interpreter exactly when the decoder says they are illegal (every row, and 3000 random parcels)', () => {
    const parcels = ENCODINGS.filter(isParcel).map((e) => e.match);
    let seed = 12345;
    for (let n = 0; n < 3000; n++) {
      seed = (Math.imul(seed, 1_103_515_245) + 12345) >>> 0;
      const c = (seed >>> 8) & 0xffff;
      if ((c & 3) !== 3) parcels.push(c);
    }
    const problems = parcels.flatMap((c) => disagreement(c, interpreterRejects(m, parcelBytes(c))) ?? []);
    expect(parcels.length).toBeGreaterThan(2000);
    expect(problems.slice(0, 20)).toEqual([]);
  });
});

describe('operands: the interpreter and the JIT agree with the decoder', () => {
  /** Registers, pc, instret and the DATA bytes the instruction may touch. */
  const state = (mm: Machine): string =>
    JSON.stringify({
      x: Array.from({ length: 32 }, (_, r) => mm.x(r).toString(16)),
      mepc: mm.csr('mepc').toString(16),
      mcause: mm.csr('mcause').toString(16),
      instret: mm.csr('instret').toString(),
      data: Buffer.from(mm.readBytes(DATA, DATA_WINDOW)).toString('hex'),
    });

  // Random operands for every row the JIT translates, 32-bit and compressed.
  const jitKind = (e: Encoding): string | undefined => e.jit ?? ENCODINGS.find((b) => !isParcel(b) && b.mnemonic === e.base)?.jit;
  const translated = ENCODINGS.filter((e) => e.mnemonic !== undefined && jitKind(e) !== undefined);
  let seed = 0x1234_5678;
  const random = (): number => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed;
  };

  it('covers every row the JIT translates', () => {
    const mnemonics = new Set(translated.map((e) => e.mnemonic));
    for (const m of ['lui', 'auipc', 'jal', 'jalr', 'beq', 'bgeu', 'lb', 'lwu', 'sd', 'addi', 'srai', 'addiw', 'sraiw', 'sub', 'sra', 'mul', 'remu', 'subw', 'remuw', 'fence', 'c.lw', 'c.addi16sp', 'c.srai', 'c.beqz', 'c.jalr', 'c.sdsp']) {
      expect(mnemonics, m).toContain(m);
    }
    expect(mnemonics).not.toContain('mulh');
    expect(mnemonics).not.toContain('fence.i');
  });

  it('the interpreter writes only the decoder\'s destination, and the JIT leaves the same state as the interpreter', async () => {
    const jit = await Machine.create(undefined, JIT);
    const problems: string[] = [];
    let runs = 0;
    for (const e of translated) {
      const width = isParcel(e) ? 0xffff : 0xffff_ffff;
      for (let n = 0; n < 12; n++) {
        const bits = ((random() & ~e.mask & width) | e.match) >>> 0;
        const i = decode(bits);
        if (!i?.legal || i.encoding !== e) continue; // an earlier row (a reserved form) claimed it
        const bytes = width === 0xffff ? parcelBytes(bits) : wordBytes(bits);
        prepare(m, bytes, INTERPRETER);
        m.run(2);
        const base = i.base;
        const changed = Array.from({ length: 32 }, (_, r) => r).filter((r) => m.x(r) !== (r === 0 ? 0n : registerValue(r)));
        if (changed.some((r) => r !== xDestination(base))) {
          problems.push(`${hex(bits)} (${disassemble(bits)}): the interpreter wrote x${changed.join(', x')}, the decoder says x${xDestination(base)}`);
        }
        for (const r of xSources(base)) if (r < 0 || r > 31) problems.push(`${hex(bits)}: source x${r}`);
        m.runToHalt(18);
        prepare(jit, bytes, JIT);
        jit.runToHalt(20);
        if (jit.hart.jit.regionOf(INSN) === undefined) problems.push(`${hex(bits)} (${disassemble(bits)}): not translated`);
        if (state(jit) !== state(m)) problems.push(`${hex(bits)} (${disassemble(bits)}): the JIT and the interpreter leave different states`);
        runs++;
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    expect(runs).toBeGreaterThan(translated.length * 6);
  });
});
