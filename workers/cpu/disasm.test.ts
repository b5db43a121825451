// The disassembler against GNU objdump (-M no-aliases): disasm-vectors.json holds objdump's text for a
// fixed list of instructions and its name for every CSR number; scripts/rvc-vectors/generate.sh
// regenerates it. Differences we make on purpose are listed in SPEC_OVER_OBJDUMP.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CSR_NAMES, csrLabel, csrName } from './csr-names.ts';
import { disassemble, instructionLength } from './disasm.ts';

interface Vectors {
  objdump: string;
  /** [encoding, pc, objdump's text, the spec's text where it and objdump 2.40 disagree] */
  insns: [encoding: string, pc: string, objdump: string, spec?: string][];
  csrNames: Record<string, string>;
}
const vectors = JSON.parse(readFileSync(new URL('disasm-vectors.json', import.meta.url), 'utf8')) as Vectors;

describe('disassemble', () => {
  it(`matches objdump (or the spec, where they differ) for all ${vectors.insns.length} listed instructions`, () => {
    const mismatches: string[] = [];
    for (const [encoding, pc, objdump, spec] of vectors.insns) {
      const want = spec ?? objdump;
      const got = disassemble(Number(encoding), BigInt(pc));
      if (got !== want) mismatches.push(`${encoding}: got "${got}", want "${want}"`);
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(mismatches.length).toBe(0);
  });

  it('departs from objdump only in the two documented cases', () => {
    // the generator's spec column: c.addi16sp with nzimm=0 is reserved; fcvt.d.{s,w,wu} with rm≠rne are
    // legal but unknown to objdump 2.40
    const departures = vectors.insns.filter(([, , , spec]) => spec !== undefined);
    const unexplained = departures.filter(([encoding, , objdump, spec]) =>
      !(objdump === 'c.addi16sp sp,0' && spec === `.2byte ${encoding}`) &&
      !(objdump === `.4byte 0x${Number(encoding).toString(16)}` && /^fcvt\.d\.(s|w|wu) .*,(rtz|rdn|rup|rmm|unknown|dyn)$/.test(spec!)));
    expect(unexplained).toEqual([]);
    expect(departures.length).toBeGreaterThan(1);
  });

  it('the fixture exercises every RV64GC mnemonic', () => {
    const seen = new Set(vectors.insns.map(([, , objdump, spec]) => (spec ?? objdump).split(' ')[0]!.replace(/\.(aq|rl|aqrl)$/, '')));
    const base = 'lb lh lw ld lbu lhu lwu sb sh sw sd addi slti sltiu xori ori andi slli srli srai addiw slliw ' +
      'srliw sraiw add sub sll slt sltu xor srl sra or and addw subw sllw srlw sraw lui auipc jal jalr beq bne ' +
      'blt bge bltu bgeu fence fence.tso fence.i ecall ebreak mret sret wfi sfence.vma csrrw csrrs csrrc csrrwi ' +
      'csrrsi csrrci mul mulh mulhsu mulhu div divu rem remu mulw divw divuw remw remuw';
    const atomics = ['lr', 'sc', 'amoswap', 'amoadd', 'amoxor', 'amoand', 'amoor', 'amomin', 'amomax', 'amominu', 'amomaxu']
      .flatMap((op) => [`${op}.w`, `${op}.d`]);
    const fp = ['s', 'd'].flatMap((p) => [
      'fadd', 'fsub', 'fmul', 'fdiv', 'fsqrt', 'fsgnj', 'fsgnjn', 'fsgnjx', 'fmin', 'fmax', 'feq', 'flt', 'fle',
      'fclass', 'fmadd', 'fmsub', 'fnmsub', 'fnmadd',
    ].map((op) => `${op}.${p}`).concat(['w', 'wu', 'l', 'lu'].flatMap((i) => [`fcvt.${i}.${p}`, `fcvt.${p}.${i}`])));
    const fpMisc = 'flw fsw fld fsd fcvt.s.d fcvt.d.s fmv.x.w fmv.w.x fmv.x.d fmv.d.x';
    const rvc = 'c.addi4spn c.fld c.lw c.ld c.fsd c.sw c.sd c.addi c.addiw c.li c.addi16sp c.lui c.srli c.srai c.andi ' +
      'c.sub c.xor c.or c.and c.subw c.addw c.j c.beqz c.bnez c.slli c.fldsp c.lwsp c.ldsp c.jr c.mv c.ebreak ' +
      'c.jalr c.add c.fsdsp c.swsp c.sdsp c.unimp';
    const all = [...base.split(' '), ...atomics, ...fp, ...fpMisc.split(' '), ...rvc.split(' ')];
    expect(all.filter((m) => !seen.has(m))).toEqual([]);
  });

  it('names every CSR as objdump does (all 4096 numbers)', () => {
    const mismatches: string[] = [];
    for (let csr = 0; csr < 4096; csr++) {
      const want = vectors.csrNames['0x' + csr.toString(16).padStart(3, '0')] ?? '0x' + csr.toString(16);
      if (csrLabel(csr) !== want) mismatches.push(`${csr.toString(16)}: got ${csrLabel(csr)}, want ${want}`);
    }
    expect(mismatches).toEqual([]);
    expect(CSR_NAMES.size).toBe(Object.keys(vectors.csrNames).length);
    expect(csrName(0x300)).toBe('mstatus');
    expect(csrName(0x7c0)).toBeUndefined();
  });

  // Written by hand from the encoding tables, for behaviour the objdump listing cannot show.
  it('prints pc-relative offsets without a pc', () => {
    expect(disassemble(0x0080_006f)).toBe('jal zero,.+8'); // jal x0, +8
    expect(disassemble(0xfe05_0ee3)).toBe('beq a0,zero,.-4');
    expect(disassemble(0xa001)).toBe('c.j .+0');
  });

  it('wraps targets at 2^64 and prints full 64-bit addresses', () => {
    expect(disassemble(0xffdf_f06f, 0n)).toBe('jal zero,0xfffffffffffffffc'); // jal x0, -4 at pc 0
    expect(disassemble(0x0080_006f, 0xffff_ffff_ffff_fffcn)).toBe('jal zero,0x4');
  });

  it('reads only the low parcel of a compressed instruction', () => {
    expect(disassemble(0x1234_8082)).toBe('c.jr ra');
    expect(disassemble(0xffff_ffff)).toBe('.4byte 0xffffffff');
  });

  it('gives instruction lengths from the first parcel', () => {
    expect(instructionLength(0x8082)).toBe(2);
    expect(instructionLength(0x0013)).toBe(4);
    expect(instructionLength(0x001f)).toBe(0); // 48-bit and longer encodings
  });
});
