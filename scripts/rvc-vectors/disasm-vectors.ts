/**
 * Builds workers/cpu/disasm-vectors.json, the oracle for workers/cpu/disasm.test.ts: GNU objdump's
 * `-M no-aliases` text for a fixed list of instructions, and the name objdump gives every CSR number.
 *
 * The instruction list is pseudo-random with a fixed seed, shaped so that every major opcode and every
 * RV64GC funct field is hit several times (random words alone would mostly be unknown encodings), plus a
 * hand list of the privileged and fence instructions, and a sample of compressed parcels. Words that
 * objdump cannot decode stay in the list: the disassembler must call them unknown too.
 *
 * Run through scripts/rvc-vectors/generate.sh (needs binutils-riscv64-linux-gnu).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OBJDUMP = 'riscv64-linux-gnu-objdump';
const OUT = 'workers/cpu/disasm-vectors.json';
const BASE = 0x8000_0000n; // objdump --adjust-vma, so branch targets are printed as 64-bit addresses

// mulberry32: a fixed sequence, so regenerating gives the same list.
let seed = 0x7ab_f00d;
function random32(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
const pick = <T>(list: readonly T[]): T => list[random32() % list.length]!;

/** A random 32-bit word with the given fields forced: [value, lowBit, width] triples. */
function word(...fields: [number, number, number][]): number {
  let w = random32();
  for (const [value, lo, width] of fields) {
    const mask = ((2 ** width - 1) * 2 ** lo) >>> 0;
    w = ((w & ~mask) | ((value * 2 ** lo) & mask)) >>> 0;
  }
  return w >>> 0;
}

const words: number[] = [];
const parcels: number[] = [];

// Every 32-bit major opcode (bits 4:2 != 111, which are longer encodings), fully random otherwise.
for (let major = 0; major < 32; major++) {
  if ((major & 7) === 7) continue;
  for (let i = 0; i < 10; i++) words.push(word([(major << 2) | 3, 0, 7]));
}
// Field-directed words, so each RV64GC instruction family appears.
const OPCODE = { LOAD: 0x03, LOAD_FP: 0x07, MISC_MEM: 0x0f, OP_IMM: 0x13, AUIPC: 0x17, OP_IMM_32: 0x1b, STORE: 0x23,
  STORE_FP: 0x27, AMO: 0x2f, OP: 0x33, LUI: 0x37, OP_32: 0x3b, MADD: 0x43, MSUB: 0x47, NMSUB: 0x4b, NMADD: 0x4f,
  OP_FP: 0x53, BRANCH: 0x63, JALR: 0x67, JAL: 0x6f, SYSTEM: 0x73 } as const;
for (let i = 0; i < 8; i++) {
  for (const f3 of [0, 1, 2, 3, 4, 5, 6]) words.push(word([OPCODE.LOAD, 0, 7], [f3, 12, 3]));
  for (const f3 of [0, 1, 2, 3]) words.push(word([OPCODE.STORE, 0, 7], [f3, 12, 3]));
  for (const f3 of [2, 3]) words.push(word([OPCODE.LOAD_FP, 0, 7], [f3, 12, 3]), word([OPCODE.STORE_FP, 0, 7], [f3, 12, 3]));
  for (const f3 of [0, 2, 3, 4, 6, 7]) words.push(word([OPCODE.OP_IMM, 0, 7], [f3, 12, 3]));
  // shifts: funct6 000000 / 010000 (RV64 6-bit shamt); OP-IMM-32 shifts have funct7 0000000 / 0100000
  for (const f6 of [0x00, 0x10]) {
    words.push(word([OPCODE.OP_IMM, 0, 7], [1, 12, 3], [0, 26, 6]));
    words.push(word([OPCODE.OP_IMM, 0, 7], [5, 12, 3], [f6, 26, 6]));
    words.push(word([OPCODE.OP_IMM_32, 0, 7], [5, 12, 3], [f6 << 1, 25, 7]));
  }
  words.push(word([OPCODE.OP_IMM_32, 0, 7], [0, 12, 3]), word([OPCODE.OP_IMM_32, 0, 7], [1, 12, 3], [0, 25, 7]));
  for (const f7 of [0x00, 0x20, 0x01]) {
    words.push(word([OPCODE.OP, 0, 7], [f7, 25, 7]), word([OPCODE.OP, 0, 7], [f7, 25, 7]));
    words.push(word([OPCODE.OP_32, 0, 7], [f7, 25, 7]), word([OPCODE.OP_32, 0, 7], [f7, 25, 7]));
  }
  words.push(word([OPCODE.LUI, 0, 7]), word([OPCODE.AUIPC, 0, 7]), word([OPCODE.JAL, 0, 7]));
  words.push(word([OPCODE.JALR, 0, 7], [0, 12, 3]));
  for (const f3 of [0, 1, 4, 5, 6, 7]) words.push(word([OPCODE.BRANCH, 0, 7], [f3, 12, 3]));
  // A: LR (rs2=0), SC and the AMOs, .w and .d
  for (const f5 of [0x02, 0x03, 0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c]) {
    const rs2 = f5 === 0x02 ? [[0, 20, 5] as [number, number, number]] : [];
    words.push(word([OPCODE.AMO, 0, 7], [pick([2, 3]), 12, 3], [f5, 27, 5], ...rs2));
  }
  // F/D: fused multiply-add (fmt S or D), and OP-FP by funct7 with the small rs2 selectors
  for (const op of [OPCODE.MADD, OPCODE.MSUB, OPCODE.NMSUB, OPCODE.NMADD]) words.push(word([op, 0, 7], [pick([0, 1]), 25, 2]));
  for (const f7 of [0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x11, 0x14, 0x15, 0x20, 0x21, 0x2c, 0x2d,
    0x50, 0x51, 0x60, 0x61, 0x68, 0x69, 0x70, 0x71, 0x78, 0x79]) {
    words.push(word([OPCODE.OP_FP, 0, 7], [f7, 25, 7], [pick([0, 0, 1, 2, 3]), 20, 5], [pick([0, 1, 2, 3, 4, 7, 7, 7]), 12, 3]));
  }
  // Zicsr on CSRs objdump names and on random numbers
  for (const f3 of [1, 2, 3, 5, 6, 7]) {
    words.push(word([OPCODE.SYSTEM, 0, 7], [f3, 12, 3], [pick([0x300, 0x305, 0x341, 0x180, 0x100, 0x003, 0xc01, 0xf14, 0x3b0]), 20, 12]));
    words.push(word([OPCODE.SYSTEM, 0, 7], [f3, 12, 3]));
  }
  // fences: random pred/succ and fm
  words.push(word([OPCODE.MISC_MEM, 0, 7], [0, 7, 5], [0, 12, 3], [0, 15, 5], [0, 28, 4]));
  words.push(word([OPCODE.MISC_MEM, 0, 7], [0, 12, 3]));
}
// OP-FP once more, systematically: every funct7 with each small rs2 selector and each funct3 selector.
for (const f7 of [0x10, 0x11, 0x14, 0x15, 0x20, 0x21, 0x50, 0x51, 0x60, 0x61, 0x68, 0x69, 0x70, 0x71, 0x78, 0x79]) {
  for (let k = 0; k < 4; k++) {
    words.push(word([OPCODE.OP_FP, 0, 7], [f7, 25, 7], [k, 20, 5], [pick([0, 7]), 12, 3]));
    words.push(word([OPCODE.OP_FP, 0, 7], [f7, 25, 7], [0, 20, 5], [k, 12, 3]));
  }
}
// The exact-encoding instructions.
words.push(
  0x0000_0073, // ecall
  0x0010_0073, // ebreak
  0x3020_0073, // mret
  0x1020_0073, // sret
  0x1050_0073, // wfi
  0x7b20_0073, // dret
  0x0020_0073, // uret (removed N extension)
  0x1200_0073, // sfence.vma zero,zero
  0x12b5_0073, // sfence.vma a0,a1
  0x1205_0073, // sfence.vma a0,zero
  0x0000_100f, // fence.i
  0x0010_100f, // fence.i with a nonzero immediate
  0x8330_000f, // fence.tso
  0x0ff0_000f, // fence iorw,iorw
  0x0100_000f, // pause (fence w,0)
  0x0000_000f, // fence 0,0
  0x0000_0013, // addi zero,zero,0 (nop)
  (0xffff_ffff & ~0x7c) >>> 0, // a 32-bit word whose low bits say 32-bit but opcode is 0
);
// Compressed parcels: a sample, plus the cases where the spec and objdump are easy to confuse.
for (let i = 0; i < 600; i++) {
  const p = random32() & 0xffff;
  if ((p & 3) !== 3) parcels.push(p);
}
parcels.push(0x0000, 0x0001, 0x0005, 0x0010, 0x6101, 0x6105, 0x6001, 0x6005, 0x2001, 0x4002, 0x6002, 0x8002, 0x8082,
  0x9002, 0x9082, 0x8006, 0x9006, 0x0002, 0x8001, 0x8401, 0x9c41, 0x9c61, 0x8000, 0x9c01, 0x9c21);

const work = mkdtempSync(join(tmpdir(), 'disasm-vectors-'));
try {
  // Instructions: 32-bit words first, then parcels, in one image so each gets its own pc.
  const image = Buffer.alloc(words.length * 4 + parcels.length * 2);
  const items: { bytes: number; value: number; offset: number }[] = [];
  let offset = 0;
  for (const w of words) {
    image.writeUInt32LE(w, offset);
    items.push({ bytes: 4, value: w, offset });
    offset += 4;
  }
  for (const p of parcels) {
    image.writeUInt16LE(p, offset);
    items.push({ bytes: 2, value: p, offset });
    offset += 2;
  }
  const listing = objdump(image, 'insns.bin');
  const objdumpText = (offset: number): string => {
    const text = listing.get(offset);
    if (text === undefined) throw new Error(`objdump did not list offset ${offset}`);
    return text;
  };

  // Where the spec and objdump 2.40 disagree, a fourth column holds the spec's reading; it is built
  // from objdump's own output for a neighbouring encoding, so the test's expectation still comes
  // from binutils.
  const aux: number[] = [];
  // objdump's names for rounding modes 0..6, from fadd.s ft0,ft0,ft0,rm (dyn=7 prints nothing)
  for (let rm = 0; rm < 7; rm++) aux.push(((rm << 12) | OPCODE.OP_FP) >>> 0);
  const widening = items.filter(({ bytes, value, offset }) => bytes === 4 && isExactWidening(value) &&
    objdumpText(offset).startsWith('.4byte') && ((value >>> 12) & 7) !== 0);
  for (const { value } of widening) aux.push((value & ~0x7000) >>> 0);
  const auxImage = Buffer.alloc(aux.length * 4);
  aux.forEach((w, i) => auxImage.writeUInt32LE(w, i * 4));
  const auxListing = objdump(auxImage, 'aux.bin');
  const rmNames = [0, 1, 2, 3, 4, 5, 6].map((rm) => auxListing.get(rm * 4)!.split(',').pop()!).concat('dyn');
  if (rmNames[0] !== 'rne' || rmNames[4] !== 'rmm') throw new Error(`unexpected rounding mode names ${rmNames}`);
  const specText = new Map<number, string>();
  widening.forEach(({ value, offset }, i) => {
    // Unprivileged spec, F chapter, fcsr section: "Some instructions, including widening conversions, have the rm field but are
    // nonetheless mathematically unaffected by the rounding mode; ... implementations must treat the
    // rm field as usual". fcvt.d.s/.d.w/.d.wu with rm≠rne are legal; objdump 2.40 decodes rm=rne only
    // (printed without it), so the other modes are shown as an extra operand, as LLVM does.
    const base = auxListing.get((7 + i) * 4)!;
    if (!/^fcvt\.d\.(s|w|wu) /.test(base)) throw new Error(`unexpected ${base} for ${hex(value, 8)}`);
    specText.set(offset, `${base},${rmNames[(value >>> 12) & 7]}`);
  });
  for (const { bytes, value, offset } of items) {
    // Spec, C.ADDI16SP: "the code point with nzimm=0 is reserved"; objdump 2.40 prints `c.addi16sp sp,0`.
    if (bytes === 2 && objdumpText(offset) === 'c.addi16sp sp,0') specText.set(offset, `.2byte ${hex(value, 1)}`);
  }

  const insns = items.map(({ bytes, value, offset }) => {
    const pc = BASE + BigInt(offset);
    const row: string[] = [hex(value, bytes * 2), '0x' + pc.toString(16), objdumpText(offset)];
    const spec = specText.get(offset);
    if (spec !== undefined) row.push(spec);
    return row;
  });

  // CSR names: `csrrs zero,CSR,zero` for every 12-bit number; objdump prints a name or a number.
  const csrImage = Buffer.alloc(4096 * 4);
  for (let csr = 0; csr < 4096; csr++) csrImage.writeUInt32LE(((csr << 20) | (2 << 12) | OPCODE.SYSTEM) >>> 0, csr * 4);
  const csrListing = objdump(csrImage, 'csrs.bin');
  const csrNames: Record<string, string> = {};
  for (let csr = 0; csr < 4096; csr++) {
    const m = /^csrrs zero,(\S+),zero$/.exec(csrListing.get(csr * 4) ?? '');
    if (!m) throw new Error(`unexpected CSR line for ${csr}: ${csrListing.get(csr * 4)}`);
    if (!/^0x/.test(m[1]!)) csrNames[hex(csr, 3)] = m[1]!;
  }

  const version = execFileSync(OBJDUMP, ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  const fixture = {
    about: 'Generated by scripts/rvc-vectors/generate.sh; do not edit. ' +
      '[encoding, pc, objdump -M no-aliases text, spec text where the spec and objdump disagree]',
    objdump: version,
    insns,
    csrNames,
  };
  writeFileSync(OUT, JSON.stringify(fixture, null, 0).replace(/\],\[/g, '],\n[') + '\n');
  console.log(`spec over objdump: ${specText.size} instructions`);
  console.log(`${OUT}: ${insns.length} instructions (${words.length} 32-bit, ${parcels.length} compressed), ` +
    `${Object.keys(csrNames).length} named CSRs; ${version}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** fcvt.d.s, fcvt.d.w, fcvt.d.wu: conversions that are always exact, whatever their rm field says. */
function isExactWidening(w: number): boolean {
  const withoutRegsAndRm = (w & 0xfff0_007f) >>> 0;
  return withoutRegsAndRm === 0x4200_0053 || withoutRegsAndRm === 0xd200_0053 || withoutRegsAndRm === 0xd210_0053;
}

function hex(v: number, digits: number): string {
  return '0x' + v.toString(16).padStart(digits, '0');
}

/** objdump's text per byte offset, mnemonic and operands joined by one space. */
function objdump(image: Buffer, name: string): Map<number, string> {
  writeFileSync(join(work, name), image);
  const out = execFileSync(
    OBJDUMP,
    ['-D', '-b', 'binary', '-m', 'riscv:rv64', '-M', 'no-aliases', `--adjust-vma=0x${BASE.toString(16)}`, join(work, name)],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const lines = new Map<number, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t[0-9a-f]+\s+\t(\S+)(?:\t(.*))?$/.exec(line);
    if (!m) continue;
    const offset = Number(BigInt('0x' + m[1]!) - BASE);
    // objdump appends "# 0x…" where it tracked a register's value from earlier lui/auipc lines; that
    // is a property of the listing, not of the instruction, so it is dropped.
    const operands = m[3]?.replace(/\s+#.*$/, '');
    lines.set(offset, operands === undefined ? m[2]! : `${m[2]} ${operands}`);
  }
  return lines;
}
