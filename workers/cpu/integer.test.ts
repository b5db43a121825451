// RV64I and M on the CPU core: every instruction against a BigInt model written from the unprivileged
// spec (ch. 2, 5, 7), with the edge cases the spec spells out (shift amounts, W-variant sign
// extension, division by zero and overflow, the upper halves of signed/unsigned products).
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item, Reg } from './test-support/asm.ts';
import { CAUSE, CODE, DATA, Machine, runProgram } from './test-support/machine.ts';

const { li, ebreak, sd, addi } = A;

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
/** Sign-extends the low 32 bits to a 64-bit register value. */
const w = (v: bigint): bigint => u64(s32(v));

const MIN64 = 1n << 63n;
const VALUES: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  7n,
  31n,
  32n,
  63n,
  64n,
  u64(-1n),
  u64(-2n),
  u64(-7n),
  0x7fff_ffffn,
  0x8000_0000n,
  u64(-0x8000_0000n),
  0xffff_ffffn,
  0x1_0000_0000n,
  0x7fff_ffff_ffff_ffffn,
  MIN64,
  0x1234_5678_9abc_def0n,
  0xfedc_ba98_7654_3210n,
];

/** Runs `op a0, a1, a2` over every pair of VALUES in one program; returns a0 for each pair. */
async function runBinary(op: (rd: Reg, rs1: Reg, rs2: Reg) => number): Promise<Map<string, bigint>> {
  const pairs: [bigint, bigint][] = [];
  for (const a of VALUES) for (const b of VALUES) pairs.push([a, b]);
  return runPairs(op, pairs);
}

async function runPairs(
  op: (rd: Reg, rs1: Reg, rs2: Reg) => number,
  pairs: [bigint, bigint][],
): Promise<Map<string, bigint>> {
  const code: Item[] = [li('s0', DATA)];
  for (const [a, b] of pairs)
    code.push(li('a1', a), li('a2', b), op('a0', 'a1', 'a2'), sd('a0', 's0'), addi('s0', 's0', 8));
  code.push(ebreak());
  const m = await runProgram(code);
  const out = new Map<string, bigint>();
  pairs.forEach(([a, b], i) => out.set(`${a},${b}`, m.read64(DATA + 8n * BigInt(i))));
  return out;
}

function checkAll(results: Map<string, bigint>, model: (a: bigint, b: bigint) => bigint): void {
  const wrong: string[] = [];
  for (const [key, got] of results) {
    const [a, b] = key.split(',').map(BigInt) as [bigint, bigint];
    const want = u64(model(a, b));
    if (got !== want)
      wrong.push(`(0x${a.toString(16)}, 0x${b.toString(16)}): got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
  }
  expect(wrong).toEqual([]);
}

// ---- the models (unprivileged spec) -----------------------------------------------------------------

const sh6 = (b: bigint): bigint => b & 63n;
const sh5 = (b: bigint): bigint => b & 31n;

const divModel = (a: bigint, b: bigint): bigint => {
  if (b === 0n) return -1n;
  if (a === MIN64 && b === u64(-1n)) return MIN64; // overflow: the dividend
  return s64(a) / s64(b); // BigInt division truncates toward zero, as RISC-V does
};
const remModel = (a: bigint, b: bigint): bigint => {
  if (b === 0n) return a;
  if (a === MIN64 && b === u64(-1n)) return 0n;
  return s64(a) % s64(b); // the sign follows the dividend, as RISC-V's
};
const divwModel = (a: bigint, b: bigint): bigint => {
  const x = s32(a);
  const y = s32(b);
  if (y === 0n) return -1n;
  if (x === -(1n << 31n) && y === -1n) return w(x);
  return w(x / y);
};
const remwModel = (a: bigint, b: bigint): bigint => {
  const x = s32(a);
  const y = s32(b);
  if (y === 0n) return w(x);
  if (x === -(1n << 31n) && y === -1n) return 0n;
  return w(x % y);
};

const R_TYPE: [string, (rd: Reg, rs1: Reg, rs2: Reg) => number, (a: bigint, b: bigint) => bigint][] = [
  ['add', A.add, (a, b) => a + b],
  ['sub', A.sub, (a, b) => a - b],
  ['sll', A.sll, (a, b) => a << sh6(b)],
  ['slt', A.slt, (a, b) => (s64(a) < s64(b) ? 1n : 0n)],
  ['sltu', A.sltu, (a, b) => (a < b ? 1n : 0n)],
  ['xor', A.xor, (a, b) => a ^ b],
  ['srl', A.srl, (a, b) => a >> sh6(b)],
  ['sra', A.sra, (a, b) => s64(a) >> sh6(b)],
  ['or', A.or, (a, b) => a | b],
  ['and', A.and, (a, b) => a & b],
  ['addw', A.addw, (a, b) => w(a + b)],
  ['subw', A.subw, (a, b) => w(a - b)],
  ['sllw', A.sllw, (a, b) => w(a << sh5(b))],
  ['srlw', A.srlw, (a, b) => w(u32(a) >> sh5(b))],
  ['sraw', A.sraw, (a, b) => w(s32(a) >> sh5(b))],
  ['mul', A.mul, (a, b) => a * b],
  ['mulh', A.mulh, (a, b) => (s64(a) * s64(b)) >> 64n],
  ['mulhsu', A.mulhsu, (a, b) => (s64(a) * b) >> 64n],
  ['mulhu', A.mulhu, (a, b) => (a * b) >> 64n],
  ['div', A.div, divModel],
  ['divu', A.divu, (a, b) => (b === 0n ? -1n : a / b)],
  ['rem', A.rem, remModel],
  ['remu', A.remu, (a, b) => (b === 0n ? a : a % b)],
  ['mulw', A.mulw, (a, b) => w(a * b)],
  ['divw', A.divw, divwModel],
  ['divuw', A.divuw, (a, b) => (u32(b) === 0n ? -1n : w(u32(a) / u32(b)))],
  ['remw', A.remw, remwModel],
  ['remuw', A.remuw, (a, b) => (u32(b) === 0n ? w(a) : w(u32(a) % u32(b)))],
];

describe('register-register instructions (RV64I OP/OP-32 and M)', () => {
  it.each(R_TYPE)('%s over %#', async (_name, op, model) => {
    checkAll(await runBinary(op), model);
  });
});

describe('spec edge cases, spelled out', () => {
  // Table 7.1 of the unprivileged spec: division by zero and signed overflow.
  it('div/rem by zero', async () => {
    const r = await runPairs(A.div, [
      [7n, 0n],
      [u64(-7n), 0n],
    ]);
    expect([...r.values()]).toEqual([u64(-1n), u64(-1n)]);
    const q = await runPairs(A.rem, [
      [7n, 0n],
      [u64(-7n), 0n],
    ]);
    expect([...q.values()]).toEqual([7n, u64(-7n)]);
    const d = await runPairs(A.divu, [[7n, 0n]]);
    expect([...d.values()]).toEqual([0xffff_ffff_ffff_ffffn]);
    const ru = await runPairs(A.remu, [[7n, 0n]]);
    expect([...ru.values()]).toEqual([7n]);
  });

  it('div/rem signed overflow', async () => {
    expect([...(await runPairs(A.div, [[MIN64, u64(-1n)]])).values()]).toEqual([MIN64]);
    expect([...(await runPairs(A.rem, [[MIN64, u64(-1n)]])).values()]).toEqual([0n]);
    expect([...(await runPairs(A.divw, [[0x8000_0000n, u64(-1n)]])).values()]).toEqual([0xffff_ffff_8000_0000n]);
    expect([...(await runPairs(A.remw, [[0x8000_0000n, u64(-1n)]])).values()]).toEqual([0n]);
  });

  it('divw/divuw/remw/remuw by zero sign-extend 32-bit results', async () => {
    expect([...(await runPairs(A.divuw, [[5n, 0x1_0000_0000n]])).values()]).toEqual([0xffff_ffff_ffff_ffffn]);
    expect([...(await runPairs(A.remuw, [[0x8000_0001n, 0x1_0000_0000n]])).values()]).toEqual([0xffff_ffff_8000_0001n]);
    expect([...(await runPairs(A.remw, [[0x1_8000_0001n, 0n]])).values()]).toEqual([0xffff_ffff_8000_0001n]);
  });

  it('mulh family with negative operands', async () => {
    // -1 * -1 = 1: high half 0; as unsigned (2^64-1)^2 has high half 2^64-2.
    expect([...(await runPairs(A.mulh, [[u64(-1n), u64(-1n)]])).values()]).toEqual([0n]);
    expect([...(await runPairs(A.mulhu, [[u64(-1n), u64(-1n)]])).values()]).toEqual([0xffff_ffff_ffff_fffen]);
    // mulhsu(-1, 2^64-1) = -(2^64-1): high half all ones.
    expect([...(await runPairs(A.mulhsu, [[u64(-1n), u64(-1n)]])).values()]).toEqual([0xffff_ffff_ffff_ffffn]);
    // MIN * MIN = 2^126: high half 2^62.
    expect([...(await runPairs(A.mulh, [[MIN64, MIN64]])).values()]).toEqual([1n << 62n]);
  });

  it('shifts use only the low 6 (or 5 for W) bits of rs2', async () => {
    expect([
      ...(
        await runPairs(A.sll, [
          [1n, 63n],
          [1n, 64n],
          [1n, 65n],
        ])
      ).values(),
    ]).toEqual([MIN64, 1n, 2n]);
    expect([...(await runPairs(A.sra, [[MIN64, 63n]])).values()]).toEqual([u64(-1n)]);
    expect([...(await runPairs(A.srl, [[MIN64, 63n]])).values()]).toEqual([1n]);
    expect([
      ...(
        await runPairs(A.sllw, [
          [1n, 31n],
          [1n, 32n],
        ])
      ).values(),
    ]).toEqual([0xffff_ffff_8000_0000n, 1n]);
    expect([...(await runPairs(A.srlw, [[0xffff_ffff_8000_0000n, 31n]])).values()]).toEqual([1n]);
    expect([...(await runPairs(A.srlw, [[0xffff_ffff_8000_0000n, 0n]])).values()]).toEqual([0xffff_ffff_8000_0000n]);
    expect([...(await runPairs(A.sraw, [[0x8000_0000n, 31n]])).values()]).toEqual([u64(-1n)]);
  });
});

// ---- immediates ---------------------------------------------------------------------------------------

const IMMS = [0, 1, -1, 5, 2047, -2048, 0x555, -0x556];

async function runImm(
  op: (rd: Reg, rs1: Reg, imm: number) => number,
  imms: number[],
): Promise<{ a: bigint; imm: number; got: bigint }[]> {
  const cases: { a: bigint; imm: number }[] = [];
  for (const a of VALUES) for (const imm of imms) cases.push({ a, imm });
  const code: Item[] = [li('s0', DATA)];
  for (const { a, imm } of cases) code.push(li('a1', a), op('a0', 'a1', imm), sd('a0', 's0'), addi('s0', 's0', 8));
  code.push(ebreak());
  const m = await runProgram(code);
  return cases.map((c, i) => ({ ...c, got: m.read64(DATA + 8n * BigInt(i)) }));
}

const I_TYPE: [string, (rd: Reg, rs1: Reg, imm: number) => number, number[], (a: bigint, imm: bigint) => bigint][] = [
  ['addi', A.addi, IMMS, (a, i) => a + i],
  ['slti', A.slti, IMMS, (a, i) => (s64(a) < i ? 1n : 0n)],
  ['sltiu', A.sltiu, IMMS, (a, i) => (a < u64(i) ? 1n : 0n)], // the immediate is sign-extended, then compared unsigned
  ['xori', A.xori, IMMS, (a, i) => a ^ i],
  ['ori', A.ori, IMMS, (a, i) => a | i],
  ['andi', A.andi, IMMS, (a, i) => a & i],
  ['slli', A.slli, [0, 1, 31, 32, 63], (a, i) => a << i],
  ['srli', A.srli, [0, 1, 31, 32, 63], (a, i) => a >> i],
  ['srai', A.srai, [0, 1, 31, 32, 63], (a, i) => s64(a) >> i],
  ['addiw', A.addiw, IMMS, (a, i) => w(a + i)],
  ['slliw', A.slliw, [0, 1, 16, 31], (a, i) => w(a << i)],
  ['srliw', A.srliw, [0, 1, 16, 31], (a, i) => w(u32(a) >> i)],
  ['sraiw', A.sraiw, [0, 1, 16, 31], (a, i) => w(s32(a) >> i)],
];

describe('register-immediate instructions', () => {
  it.each(I_TYPE)('%s', async (_name, op, imms, model) => {
    const wrong = (await runImm(op, imms))
      .filter(({ a, imm, got }) => got !== u64(model(a, BigInt(imm))))
      .map(
        ({ a, imm, got }) =>
          `(0x${a.toString(16)}, ${imm}): got 0x${got.toString(16)}, want 0x${u64(model(a, BigInt(imm))).toString(16)}`,
      );
    expect(wrong).toEqual([]);
  });

  it('x0 stays zero', async () => {
    const m = await runProgram([addi(0, 0, 5), A.lui(0, 0x12345), A.add('a0', 0, 0), ebreak()]);
    expect(m.x(0)).toBe(0n);
    expect(m.x('a0')).toBe(0n);
  });

  it('lui sign-extends its 32-bit result; auipc adds to the pc', async () => {
    const m = await runProgram([
      A.lui('a0', 0x80000),
      A.lui('a1', 0x7ffff),
      A.auipc('a2', 0),
      A.auipc('a3', 0xfffff),
      A.auipc('a4', 0x80000),
      ebreak(),
    ]);
    expect(m.x('a0')).toBe(0xffff_ffff_8000_0000n);
    expect(m.x('a1')).toBe(0x7fff_f000n);
    expect(m.x('a2')).toBe(CODE + 8n);
    expect(m.x('a3')).toBe(u64(CODE + 12n - 0x1000n));
    expect(m.x('a4')).toBe(u64(CODE + 16n - 0x8000_0000n));
  });

  it('li builds every test constant', async () => {
    const code: Item[] = [li('s0', DATA)];
    for (const v of VALUES) code.push(li('a0', v), sd('a0', 's0'), addi('s0', 's0', 8));
    code.push(ebreak());
    const m = await runProgram(code);
    expect(VALUES.map((_, i) => m.read64(DATA + 8n * BigInt(i)))).toEqual(VALUES);
  });
});

// ---- control transfer ---------------------------------------------------------------------------------

const BRANCHES: [string, (a: Reg, b: Reg, off: number) => number, (a: bigint, b: bigint) => boolean][] = [
  ['beq', A.beq, (a, b) => a === b],
  ['bne', A.bne, (a, b) => a !== b],
  ['blt', A.blt, (a, b) => s64(a) < s64(b)],
  ['bge', A.bge, (a, b) => s64(a) >= s64(b)],
  ['bltu', A.bltu, (a, b) => a < b],
  ['bgeu', A.bgeu, (a, b) => a >= b],
];
const BRANCH_VALUES = [0n, 1n, u64(-1n), MIN64, 0x7fff_ffff_ffff_ffffn, 0x8000_0000n];

describe('branches', () => {
  it.each(BRANCHES)('%s', async (_name, op, model) => {
    const pairs: [bigint, bigint][] = [];
    for (const a of BRANCH_VALUES) for (const b of BRANCH_VALUES) pairs.push([a, b]);
    const code: Item[] = [li('s0', DATA)];
    // a0 = 1; branch over "a0 = 0"; store a0: 1 means taken.
    for (const [a, b] of pairs) {
      code.push(
        li('a1', a),
        li('a2', b),
        addi('a0', 0, 1),
        op('a1', 'a2', 8),
        addi('a0', 0, 0),
        sd('a0', 's0'),
        addi('s0', 's0', 8),
      );
    }
    code.push(ebreak());
    const m = await runProgram(code);
    const wrong = pairs
      .map(([a, b], i) => ({ a, b, got: m.read64(DATA + 8n * BigInt(i)) === 1n }))
      .filter(({ a, b, got }) => got !== model(a, b))
      .map(({ a, b, got }) => `(0x${a.toString(16)}, 0x${b.toString(16)}): taken=${got}`);
    expect(wrong).toEqual([]);
  });

  it('backward branches loop', async () => {
    // a0 = 10; a1 = 0; loop: a1 += a0; a0 -= 1; bnez a0, loop
    const m = await runProgram([
      addi('a0', 0, 10),
      addi('a1', 0, 0),
      A.add('a1', 'a1', 'a0'),
      addi('a0', 'a0', -1),
      A.bne('a0', 0, -8),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(55n);
  });

  it('reach the ends of the 13-bit offset range (+4092 and -4096)', async () => {
    const code: Item[] = [A.beq(0, 0, 4092)]; // 0 → 4092
    for (let i = 0; i < 1022; i++) code.push(addi('a0', 'a0', 1)); // 4 .. 4088: run on the second pass only
    code.push(
      addi('a1', 'a1', 1), // 4092
      addi('t0', 0, 2), // 4096
      A.blt('a1', 't0', -4096), // 4100 → 4
      ebreak(), // 4104
    );
    const m = await runProgram(code);
    expect(m.x('a0')).toBe(1022n);
    expect(m.x('a1')).toBe(2n);
    expect(m.csr('mepc')).toBe(CODE + 4104n);
  });
});

describe('jal and jalr', () => {
  it('jal links pc+4 and jumps forward and back', async () => {
    const m = await runProgram([
      A.jal('ra', 12), // 0: → 12
      addi('a0', 0, 1), // 4: skipped
      ebreak(), // 8
      A.jal('t0', -4), // 12: → 8, t0 = CODE+16
    ]);
    expect(m.x('ra')).toBe(CODE + 4n);
    expect(m.x('t0')).toBe(CODE + 16n);
    expect(m.x('a0')).toBe(0n);
    expect(m.csr('mepc')).toBe(CODE + 8n);
  });

  it('jalr clears bit 0 of the target and links pc+4', async () => {
    const m = await runProgram([
      A.auipc('a1', 0), // 0
      A.jalr('ra', 'a1', 13), // 4: target CODE+13 & ~1 = CODE+12
      ebreak(), // 8
      addi('a0', 0, 42), // 12
      ebreak(), // 16
    ]);
    expect(m.x('ra')).toBe(CODE + 8n);
    expect(m.x('a0')).toBe(42n);
    expect(m.csr('mepc')).toBe(CODE + 16n);
  });

  it('jalr with rd = rs1 uses the old rs1', async () => {
    const m = await runProgram([A.auipc('a1', 0), A.jalr('a1', 'a1', 12), ebreak(), ebreak()]);
    expect(m.x('a1')).toBe(CODE + 8n);
    expect(m.csr('mepc')).toBe(CODE + 12n);
  });

  it('jalr with a negative offset', async () => {
    const m = await Machine.create();
    m.boot([ebreak(), A.auipc('a1', 0), addi('a1', 'a1', 2000), A.jalr(0, 'a1', -2004)]);
    m.hart.pc = CODE + 4n;
    m.runToEbreak();
    expect(m.csr('mepc')).toBe(CODE);
  });
});

// ---- loads and stores ---------------------------------------------------------------------------------

describe('loads and stores', () => {
  const PATTERN = 0x8182_8384_f5f6_f7f8n;

  // Memory at DATA: PATTERN, then 0x0000_0000_7f7f_7f7f.
  it.each<[string, (rd: Reg, rs1: Reg, imm?: number) => number, number, bigint]>([
    ['lb sign-extends', A.lb, 0, 0xffff_ffff_ffff_fff8n],
    ['lbu zero-extends', A.lbu, 0, 0xf8n],
    ['lh sign-extends', A.lh, 0, 0xffff_ffff_ffff_f7f8n],
    ['lhu zero-extends', A.lhu, 0, 0xf7f8n],
    ['lw sign-extends', A.lw, 0, 0xffff_ffff_f5f6_f7f8n],
    ['lwu zero-extends', A.lwu, 0, 0xf5f6_f7f8n],
    ['ld', A.ld, 0, PATTERN],
    ['lb at offset 1', A.lb, 1, 0xffff_ffff_ffff_fff7n],
    ['lh at offset 6', A.lh, 6, 0xffff_ffff_ffff_8182n],
    ['lw at offset 4', A.lw, 4, 0xffff_ffff_8182_8384n],
    ['lwu at offset 4', A.lwu, 4, 0x8182_8384n],
    ['lb of a positive byte', A.lb, 8, 0x7fn],
    ['lh of a positive half', A.lh, 8, 0x7f7fn],
    ['lw of a positive word', A.lw, 8, 0x7f7f_7f7fn],
  ])('%s', async (_what, load, offset, expected) => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), load('a0', 's0', offset), ebreak()]);
    m.write64(DATA, PATTERN);
    m.write64(DATA + 8n, 0x0000_0000_7f7f_7f7fn);
    m.runToEbreak();
    expect(m.x('a0')).toBe(expected);
  });

  // Each store writes 0x1122_3344_5566_7788 over all ones, at a negative offset from its base.
  it.each<[string, (rs2: Reg, rs1: Reg, imm?: number) => number, bigint]>([
    ['sb writes only its byte', A.sb, 0xffff_ffff_ffff_ff88n],
    ['sh writes only its half', A.sh, 0xffff_ffff_ffff_7788n],
    ['sw writes only its word', A.sw, 0xffff_ffff_5566_7788n],
    ['sd writes 8 bytes', A.sd, 0x1122_3344_5566_7788n],
  ])('%s, with a negative offset', async (_what, store, expected) => {
    const m = await Machine.create();
    m.boot([li('s0', DATA + 0x100n), li('a0', 0x1122_3344_5566_7788n), store('a0', 's0', -0x100), ebreak()]);
    m.write64(DATA, u64(-1n));
    m.write64(DATA + 8n, u64(-1n));
    m.runToEbreak();
    expect(m.read64(DATA)).toBe(expected);
    expect(m.read64(DATA + 8n)).toBe(u64(-1n));
  });

  it('a load into x0 is discarded', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), A.ld(0, 's0', 0), ebreak()]);
    m.write64(DATA, 5n);
    m.runToEbreak();
    expect(m.x(0)).toBe(0n);
  });

  // The hart supports misaligned accesses in hardware (§2.6 allows it); across a page they are done
  // byte by byte.
  it.each([
    ['within a page', DATA + 0x101n],
    ['across a page', DATA + 0xffdn],
  ])('misaligned loads and stores %s', async (_where, addr) => {
    const m = await Machine.create();
    m.boot([
      li('s0', addr),
      A.ld('a0', 's0', 0),
      A.lw('a1', 's0', 1),
      A.lh('a2', 's0', 2),
      A.lhu('a3', 's0', 2),
      A.lwu('a4', 's0', 1),
      li('t0', 0x0102_0304_0506_0708n),
      A.sd('t0', 's0', 16),
      A.sw('t0', 's0', 25),
      A.sh('t0', 's0', 31),
      ebreak(),
    ]);
    const bytes = new Uint8Array(40);
    for (let i = 0; i < 16; i++) bytes[i] = 0x80 + i * 9;
    m.writeBytes(addr, bytes.subarray(0, 16));
    const le = (off: number, n: number): bigint => {
      let v = 0n;
      for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i]!);
      return v;
    };
    m.runToEbreak();
    expect(m.x('a0')).toBe(le(0, 8));
    expect(m.x('a1')).toBe(w(le(1, 4)));
    expect(m.x('a2')).toBe(u64(BigInt.asIntN(16, le(2, 2))));
    expect(m.x('a3')).toBe(le(2, 2));
    expect(m.x('a4')).toBe(le(1, 4));
    expect(m.read64(addr + 16n)).toBe(0x0102_0304_0506_0708n);
    expect(m.read32(addr + 25n)).toBe(0x0506_0708n);
    expect(m.read16(addr + 31n)).toBe(0x0708n);
    expect(m.read8(addr + 24n)).toBe(0n); // between the sd and the sw: untouched
    expect(m.read8(addr + 29n)).toBe(0n); // between the sw and the sh
    expect(m.read8(addr + 33n)).toBe(0n); // after the sh
  });
});

// ---- illegal encodings --------------------------------------------------------------------------------

describe('illegal encodings trap with mtval = the instruction', () => {
  it.each([
    ['slli with imm[11:6] != 0', 0x0405_9513],
    ['srai with a bad funct6', 0x6005_d513],
    ['slliw with a shamt[5] set', 0x0205_951b],
    ['OP with funct7 = 2', 0x04c5_8533],
    ['OP-32 with M funct3 1 (no mulhw)', 0x02c5_953b],
    ['OP-32 xor (no xorw)', 0x00c5_c53b],
    ['load funct3 7', 0x0005_f503],
    ['store funct3 4', 0x00a5_c023],
    ['branch funct3 2', 0x00b5_2463],
    ['jalr funct3 1', 0x0005_9067],
    ['fence funct3 2', 0x0000_200f],
    ['all ones', 0xffff_ffff],
    ['unknown major opcode 0x0b (custom-0)', 0x0000_000b],
    ['SYSTEM funct3 4', 0x0000_4073],
    ['ecall with rd != 0', 0x0000_00f3],
  ])('%s', async (_what, insn) => {
    const m = await Machine.boot([addi('a0', 0, 1), insn, ebreak()]);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.illegalInstruction);
    expect(trap.epc).toBe(CODE + 4n);
    expect(trap.tval).toBe(BigInt(insn >>> 0));
  });
});

describe('fences and counting', () => {
  it('after a store to the instruction stream and fence.i, the new instruction runs', async () => {
    // The program rewrites the `addi a0, zero, 1` at CODE + 0x40 into `addi a0, zero, 2`, executes
    // fence.i and jumps there. (Our interpreter fetches from memory each time; a future JIT must agree.)
    const head = [A.auipc('s0', 0), li('t0', A.addi('a0', 0, 2)), A.sw('t0', 's0', 0x40), A.fence_i()];
    const m = await Machine.create();
    m.boot([...head, A.jal(0, 0x40 - A.sizeOf(head))]);
    m.place(CODE + 0x40n, [A.addi('a0', 0, 1), ebreak()]);
    m.runToEbreak();
    expect(m.x('a0')).toBe(2n);
  });

  it('fence and fence.i are no-ops that retire', async () => {
    const m = await runProgram([A.fence(), A.fence_i(), addi('a0', 0, 3), A.csrr('a1', 'minstret'), ebreak()]);
    expect(m.x('a0')).toBe(3n);
    expect(m.x('a1')).toBe(3n);
  });

  it('run() stops at the budget and resumes where it stopped', async () => {
    const m = await Machine.boot([addi('a0', 'a0', 1), addi('a0', 'a0', 1), addi('a0', 'a0', 1), ebreak()]);
    expect(m.run(2)).toEqual({ retired: 2, stop: 0 });
    expect(m.pc).toBe(CODE + 8n);
    expect(m.x('a0')).toBe(2n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(3n);
  });
});
