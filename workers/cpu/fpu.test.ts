// The F/D arithmetic (assembly/fpu.ts) against real RISC-V semantics: every vector in
// fpu-vectors.txt.gz (results and fflags from the F and D instructions run under QEMU by
// scripts/fpu-vectors/generate.sh, all five rounding modes), then hand-written spec cases, then
// randomized comparisons of every fast path with its integer-only twin and of the RNE results with
// the host's own IEEE arithmetic.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';

const here = new URL('.', import.meta.url);

type Wasm = Record<string, (...args: (number | bigint)[]) => number | bigint>;
let fpu: Wasm;

const NV = 0x10;
const DZ = 0x08;
const OF = 0x04;
const UF = 0x02;
const NX = 0x01;
const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const RMM = 4;
const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm'];

/** Operand and result kinds: how a value crosses the JS/wasm boundary. */
type Kind = 'f32' | 'f64' | 'i32' | 'u32' | 'i64' | 'u64' | 'bool' | 'class';
interface OpInfo {
  args: Kind[];
  result: Kind;
  rm: boolean;
}
const OPS: Record<string, OpInfo> = {};
for (const p of ['f32', 'f64'] as const) {
  for (const op of ['add', 'sub', 'mul', 'div']) OPS[`${p}_${op}`] = { args: [p, p], result: p, rm: true };
  OPS[`${p}_sqrt`] = { args: [p], result: p, rm: true };
  OPS[`${p}_fma`] = { args: [p, p, p], result: p, rm: true };
  for (const op of ['min', 'max']) OPS[`${p}_${op}`] = { args: [p, p], result: p, rm: false };
  for (const op of ['eq', 'lt', 'le']) OPS[`${p}_${op}`] = { args: [p, p], result: 'bool', rm: false };
  OPS[`${p}_classify`] = { args: [p], result: 'class', rm: false };
  for (const i of ['i32', 'u32', 'i64', 'u64'] as const) {
    OPS[`${p}_to_${i}`] = { args: [p], result: i, rm: true };
    OPS[`${i}_to_${p}`] = { args: [i], result: p, rm: true };
  }
}
OPS['f32_to_f64'] = { args: ['f32'], result: 'f64', rm: false };
OPS['f64_to_f32'] = { args: ['f64'], result: 'f32', rm: true };

/** Functions with an integer-only twin named `<op>_soft`. */
const SOFT = [
  'f32_add',
  'f32_sub',
  'f32_mul',
  'f32_div',
  'f32_sqrt',
  'f32_fma',
  'f64_add',
  'f64_sub',
  'f64_mul',
  'f64_div',
  'f64_sqrt',
  'f64_to_f32',
  'f32_to_i32',
  'f32_to_u32',
  'f32_to_i64',
  'f32_to_u64',
  'f64_to_i32',
  'f64_to_u32',
  'f64_to_i64',
  'f64_to_u64',
];

const is64 = (k: Kind): boolean => k === 'f64' || k === 'i64' || k === 'u64';
const toArg = (k: Kind, v: bigint): number | bigint => (is64(k) ? v : Number(BigInt.asUintN(32, v)));
function fromResult(k: Kind, r: number | bigint): bigint {
  if (typeof r === 'bigint') return BigInt.asUintN(64, r);
  return k === 'bool' || k === 'class' ? BigInt(r) : BigInt(r >>> 0);
}

/** Run one function with cleared flags: [result bits (unsigned), fflags]. */
function run(name: string, info: OpInfo, args: bigint[], rm: number): [bigint, number] {
  const fn = fpu[name];
  if (!fn) throw new Error(`fpu.wasm exports no ${name}`);
  fpu.setFflags!(0);
  const wasmArgs = args.map((v, i) => toArg(info.args[i]!, v));
  if (info.rm) wasmArgs.push(rm);
  const r = fromResult(info.result, fn(...wasmArgs));
  return [r, fpu.getFflags!() as number];
}

const hex = (v: bigint): string => v.toString(16);
const flagText = (f: number): string =>
  f === 0 ? '-' : ['NV', 'DZ', 'OF', 'UF', 'NX'].filter((_, i) => f & (0x10 >> i)).join('|');

// ---------------------------------------------------------------------------------------------
// The fixture

interface Vector {
  args: bigint[];
  /** per rounding mode (one entry for ops without one): [result, fflags] */
  want: [bigint, number][];
}
const vectors = new Map<string, Vector[]>();
let declaredLines = 0;

function parseResults(fields: string[], rm: boolean): [bigint, number][] {
  const [r0text, f0text] = fields[0]!.split(':');
  const r0 = BigInt('0x' + r0text);
  const out: [bigint, number][] = [[r0, parseInt(f0text!, 16)]];
  if (rm) {
    if (fields.length !== 5) throw new Error(`expected 5 results, got ${fields.join(' ')}`);
    for (let i = 1; i < 5; i++) {
      const [d, f] = fields[i]!.split(':');
      out.push([BigInt.asUintN(64, r0 + BigInt(d!)), parseInt(f!, 16)]);
    }
  } else if (fields.length !== 1) throw new Error(`expected 1 result, got ${fields.join(' ')}`);
  return out;
}

function loadFixture(): void {
  // FPU_VECTORS may name another file from gen.c (e.g. a bigger -DSCALE soak set); default: the fixture
  const file = process.env['FPU_VECTORS'] ?? new URL('fpu-vectors.txt.gz', here);
  const text = gunzipSync(readFileSync(file)).toString('latin1');
  const lines = text.split('\n');
  const pools = new Map<string, bigint[]>();
  const add = (op: string, v: Vector): void => {
    let list = vectors.get(op);
    if (!list) vectors.set(op, (list = []));
    list.push(v);
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i++]!;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (\d+) result lines$/.exec(line);
      if (m) declaredLines = Number(m[1]);
      continue;
    }
    const parts = line.split(' ');
    const tag = parts[0];
    if (tag === 'P') {
      pools.set(
        parts[1]!,
        parts.slice(2).map((h) => BigInt('0x' + h)),
      );
    } else if (tag === 'X') {
      const op = parts[1]!;
      const info = OPS[op];
      if (!info) throw new Error(`unknown op ${op}`);
      const ps = parts.slice(2).map((n) => {
        const p = pools.get(n);
        if (!p) throw new Error(`unknown pool ${n}`);
        return p;
      });
      // cartesian product, first pool outermost
      let tuples: bigint[][] = [[]];
      for (const p of ps) tuples = tuples.flatMap((t) => p.map((v) => [...t, v]));
      for (const args of tuples) add(op, { args, want: parseResults(lines[i++]!.split(' '), info.rm) });
    } else if (tag === 'E') {
      const op = parts[1]!;
      const info = OPS[op];
      if (!info) throw new Error(`unknown op ${op}`);
      const n = Number(parts[2]);
      for (let k = 0; k < n; k++) {
        const fields = lines[i++]!.split(' ');
        const arity = info.args.length;
        add(op, {
          args: fields.slice(0, arity).map((h) => BigInt('0x' + h)),
          want: parseResults(fields.slice(arity), info.rm),
        });
      }
    } else {
      throw new Error(`bad fixture line: ${line.slice(0, 80)}`);
    }
  }
}

beforeAll(async () => {
  const wasm = readFileSync(new URL('build/fpu.wasm', here));
  const { instance } = await WebAssembly.instantiate(wasm, {});
  fpu = instance.exports as unknown as Wasm;
  loadFixture();
});

/** Check one function (or its _soft twin) against every vector of an op. Returns mismatches. */
function checkAgainstFixture(op: string, fnName: string): { checked: number; bad: string[] } {
  const info = OPS[op]!;
  const bad: string[] = [];
  let checked = 0;
  for (const v of vectors.get(op) ?? []) {
    for (let rm = 0; rm < v.want.length; rm++) {
      const [wantR, wantF] = v.want[rm]!;
      const [gotR, gotF] = run(fnName, info, v.args, rm);
      checked++;
      if (gotR !== wantR || gotF !== wantF) {
        bad.push(
          `${fnName}(${v.args.map(hex).join(', ')}${info.rm ? ', ' + RM_NAMES[rm] : ''}) = ` +
            `${hex(gotR)} ${flagText(gotF)}, QEMU ${hex(wantR)} ${flagText(wantF)}`,
        );
      }
    }
  }
  return { checked, bad };
}

describe('fpu against RISC-V hardware semantics (QEMU vectors)', () => {
  it('the fixture covers every function of the API', () => {
    let total = 0;
    for (const op of Object.keys(OPS)) {
      const n = vectors.get(op)?.length ?? 0;
      expect(n, op).toBeGreaterThanOrEqual(150);
      total += n;
    }
    expect(total).toBe(declaredLines);
    expect(total).toBeGreaterThan(290_000);
  });

  for (const op of Object.keys(OPS)) {
    it(`${op} matches every vector, result bits and fflags, in every rounding mode`, () => {
      const { checked, bad } = checkAgainstFixture(op, op);
      expect(bad.slice(0, 12)).toEqual([]);
      expect(bad.length).toBe(0);
      expect(checked).toBeGreaterThanOrEqual(150);
    });
  }

  for (const op of SOFT) {
    it(`${op}_soft (the integer-only path) matches every vector too`, () => {
      const { checked, bad } = checkAgainstFixture(op, `${op}_soft`);
      expect(bad.slice(0, 12)).toEqual([]);
      expect(bad.length).toBe(0);
      expect(checked).toBeGreaterThanOrEqual(150);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Named cases, expected values worked out by hand from the specs.

const f32bits = (x: number): bigint => {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  return BigInt(b.getUint32(0));
};
const f64bits = (x: number): bigint => {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  return b.getBigUint64(0);
};
const bitsToF64 = (v: bigint): number => {
  const b = new DataView(new ArrayBuffer(8));
  b.setBigUint64(0, v);
  return b.getFloat64(0);
};
const bitsToF32 = (v: bigint): number => {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, Number(v));
  return b.getFloat32(0);
};
/** call by name: [result bits, flags] */
function call(name: string, ...args: (bigint | number)[]): [bigint, number] {
  const info = OPS[name] ?? OPS[name.replace(/_soft$/, '')]!;
  const n = info.args.length;
  const rm = info.rm ? Number(args[n] ?? RNE) : 0;
  return run(
    name,
    info,
    args.slice(0, n).map((a) => BigInt(a)),
    rm,
  );
}

const F32_QNAN = 0x7fc0_0000n;
const F32_SNAN = 0x7f80_0001n;
const F32_INF = 0x7f80_0000n;
const F32_MAX = 0x7f7f_ffffn;
const F32_NEG = 0x8000_0000n;
const F64_QNAN = 0x7ff8_0000_0000_0000n;
const F64_SNAN = 0x7ff0_0000_0000_0001n;
const F64_INF = 0x7ff0_0000_0000_0000n;
const F64_NEG = 0x8000_0000_0000_0000n;

describe('famous edge cases', () => {
  it('fma rounds once: 0.1·10 − 1 is 2^-54 exactly, while mul-then-sub gives 0', () => {
    // 0.1 = 3602879701896397·2^-55, so 0.1·10 − 1 = (36028797018963970 − 2^55)·2^-55 = 2^-54.
    expect(call('f64_fma', f64bits(0.1), f64bits(10), f64bits(-1), RNE)).toEqual([f64bits(2 ** -54), 0]);
    const [p, pf] = call('f64_mul', f64bits(0.1), f64bits(10), RNE);
    expect([p, pf]).toEqual([f64bits(1), NX]);
    expect(call('f64_sub', p, f64bits(1), RNE)).toEqual([0n, 0]);
    // single: (1 + 2^-23)² − (1 + 2^-22) = 2^-46, which two roundings lose
    const a = f32bits(1 + 2 ** -23);
    expect(call('f32_fma', a, a, f32bits(-(1 + 2 ** -22)), RNE)).toEqual([f32bits(2 ** -46), 0]);
    expect(call('f32_mul', a, a, RNE)).toEqual([f32bits(1 + 2 ** -22), NX]);
  });

  it('an exact zero sum is +0, except −0 when rounding down (754 §6.3)', () => {
    for (const [add, one, neg, negZero] of [
      ['f32_add', f32bits(1), f32bits(-1), F32_NEG],
      ['f64_add', f64bits(1), f64bits(-1), F64_NEG],
    ] as const) {
      for (const rm of [RNE, RTZ, RUP, RMM]) expect(call(add, one, neg, rm)).toEqual([0n, 0]);
      expect(call(add, one, neg, RDN)).toEqual([negZero, 0]);
      expect(call(add, 0n, negZero, RNE)).toEqual([0n, 0]); // +0 + −0
      expect(call(add, 0n, negZero, RDN)).toEqual([negZero, 0]);
      expect(call(add, negZero, negZero, RNE)).toEqual([negZero, 0]); // −0 + −0 keeps its sign
    }
    expect(call('f64_sub', f64bits(5), f64bits(5), RDN)).toEqual([F64_NEG, 0]);
    expect(call('f64_fma', f64bits(2), f64bits(3), f64bits(-6), RDN)).toEqual([F64_NEG, 0]);
    expect(call('f64_fma', f64bits(2), f64bits(3), f64bits(-6), RNE)).toEqual([0n, 0]);
  });

  it('fcvt to integer: NaN gives the largest value, out of range saturates with NV only (§11.7)', () => {
    expect(call('f32_to_i32', F32_QNAN, RTZ)).toEqual([0x7fff_ffffn, NV]);
    expect(call('f32_to_i32', 0xffc0_0000n, RTZ)).toEqual([0x7fff_ffffn, NV]); // negative NaN too
    expect(call('f32_to_i32', F32_SNAN, RNE)).toEqual([0x7fff_ffffn, NV]);
    expect(call('f32_to_u32', F32_QNAN, RTZ)).toEqual([0xffff_ffffn, NV]);
    expect(call('f64_to_i64', F64_QNAN, RTZ)).toEqual([0x7fff_ffff_ffff_ffffn, NV]);
    expect(call('f64_to_u64', F64_QNAN, RTZ)).toEqual([0xffff_ffff_ffff_ffffn, NV]);
    expect(call('f32_to_i32', F32_INF | F32_NEG, RTZ)).toEqual([0x8000_0000n, NV]);
    expect(call('f32_to_i32', f32bits(2 ** 31), RTZ)).toEqual([0x7fff_ffffn, NV]);
    expect(call('f32_to_i32', f32bits(-(2 ** 31)), RTZ)).toEqual([0x8000_0000n, 0]);
    expect(call('f64_to_i32', f64bits(2147483647.5), RTZ)).toEqual([0x7fff_ffffn, NX]);
    expect(call('f64_to_i32', f64bits(2147483647.5), RNE)).toEqual([0x7fff_ffffn, NV]); // rounds to 2^31
    // unsigned: a negative value that rounds to 0 is in range (NX); one that rounds below is not
    expect(call('f32_to_u32', f32bits(-0.5), RTZ)).toEqual([0n, NX]);
    expect(call('f32_to_u32', f32bits(-0.5), RNE)).toEqual([0n, NX]);
    expect(call('f32_to_u32', f32bits(-0.5), RMM)).toEqual([0n, NV]);
    expect(call('f32_to_u32', f32bits(-1), RTZ)).toEqual([0n, NV]);
    expect(call('f64_to_u64', f64bits(-0.75), RUP)).toEqual([0n, NX]);
    expect(call('f64_to_u64', f64bits(-0.75), RDN)).toEqual([0n, NV]);
    expect(call('f32_to_i32', F32_NEG, RNE)).toEqual([0n, 0]); // −0
  });

  it('RMM rounds ties away from zero, RNE to even', () => {
    expect(call('f32_to_i32', f32bits(2.5), RNE)).toEqual([2n, NX]);
    expect(call('f32_to_i32', f32bits(2.5), RMM)).toEqual([3n, NX]);
    expect(call('f32_to_i32', f32bits(-2.5), RMM)).toEqual([BigInt.asUintN(32, -3n), NX]);
    expect(call('f32_add', f32bits(1), f32bits(2 ** -24), RNE)).toEqual([f32bits(1), NX]);
    expect(call('f32_add', f32bits(1), f32bits(2 ** -24), RMM)).toEqual([f32bits(1) + 1n, NX]);
    expect(call('f64_add', f64bits(1), f64bits(2 ** -53), RMM)).toEqual([f64bits(1) + 1n, NX]);
  });

  it('fmin/fmax are minimumNumber/maximumNumber: −0 < +0, one NaN yields the other operand', () => {
    expect(call('f32_min', F32_NEG, 0n)).toEqual([F32_NEG, 0]);
    expect(call('f32_min', 0n, F32_NEG)).toEqual([F32_NEG, 0]);
    expect(call('f32_max', F32_NEG, 0n)).toEqual([0n, 0]);
    expect(call('f64_min', 0n, F64_NEG)).toEqual([F64_NEG, 0]);
    expect(call('f64_max', F64_NEG, 0n)).toEqual([0n, 0]);
    expect(call('f32_min', F32_QNAN, f32bits(1))).toEqual([f32bits(1), 0]);
    expect(call('f32_max', f32bits(-3), 0xffc0_0001n)).toEqual([f32bits(-3), 0]);
    expect(call('f32_min', F32_SNAN, f32bits(1))).toEqual([f32bits(1), NV]); // NV even so
    expect(call('f64_max', F64_SNAN, f64bits(2))).toEqual([f64bits(2), NV]);
    expect(call('f32_min', 0x7fc0_1234n, 0xffc0_0000n)).toEqual([F32_QNAN, 0]); // canonical
    expect(call('f64_min', F64_SNAN, F64_QNAN)).toEqual([F64_QNAN, NV]);
  });

  it('feq is quiet (NV only for sNaN); flt and fle signal on any NaN', () => {
    expect(call('f32_eq', F32_QNAN, f32bits(1))).toEqual([0n, 0]);
    expect(call('f32_eq', F32_SNAN, f32bits(1))).toEqual([0n, NV]);
    expect(call('f64_eq', f64bits(1), F64_SNAN)).toEqual([0n, NV]);
    expect(call('f32_lt', F32_QNAN, f32bits(1))).toEqual([0n, NV]);
    expect(call('f64_le', F64_QNAN, F64_QNAN)).toEqual([0n, NV]);
    expect(call('f32_eq', F32_NEG, 0n)).toEqual([1n, 0]); // −0 == +0
    expect(call('f32_lt', F32_NEG, 0n)).toEqual([0n, 0]);
    expect(call('f64_le', F64_NEG, 0n)).toEqual([1n, 0]);
  });

  it('fma raises NV for ∞·0 even when the addend is a quiet NaN (§11.6)', () => {
    expect(call('f32_fma', F32_INF, 0n, F32_QNAN, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f32_fma', F32_NEG, F32_INF | F32_NEG, F32_QNAN | F32_NEG, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f64_fma', 0n, F64_INF, F64_QNAN, RNE)).toEqual([F64_QNAN, NV]);
    expect(call('f64_fma', F64_INF | F64_NEG, F64_NEG, 0xfff8_0000_0000_0000n, RTZ)).toEqual([F64_QNAN, NV]);
    // a quiet NaN addend with an ordinary product: quiet
    expect(call('f64_fma', f64bits(2), f64bits(3), F64_QNAN, RNE)).toEqual([F64_QNAN, 0]);
    // ∞ − ∞ through the addend
    expect(call('f64_fma', F64_INF, f64bits(2), F64_INF | F64_NEG, RNE)).toEqual([F64_QNAN, NV]);
  });

  it('tininess is detected after rounding; UF needs tiny and inexact', () => {
    // (1+2^-23)·(2^-126·(1−2^-23)) = 2^-126·(1−2^-46): rounds to 2^-126 even with an unbounded
    // exponent, so it is not tiny: NX alone (before-rounding detection would add UF).
    expect(call('f32_mul', 0x3f80_0001n, 0x007f_ffffn, RNE)).toEqual([0x0080_0000n, NX]);
    expect(call('f64_mul', 0x3ff0_0000_0000_0001n, 0x000f_ffff_ffff_ffffn, RNE)).toEqual([0x0010_0000_0000_0000n, NX]);
    // (1−2^-24)·2^-126 is a 24-bit number below 2^-126, so tiny; the subnormal grid rounds it
    // (a tie) to 2^-126 in RNE, to the largest subnormal toward zero: UF|NX either way.
    expect(call('f32_mul', 0x3f7f_ffffn, 0x0080_0000n, RNE)).toEqual([0x0080_0000n, UF | NX]);
    expect(call('f32_mul', 0x3f7f_ffffn, 0x0080_0000n, RTZ)).toEqual([0x007f_ffffn, UF | NX]);
    // an exact subnormal result is tiny but exact: no flags
    expect(call('f32_mul', f32bits(0.5), 0x0000_0002n, RNE)).toEqual([0x0000_0001n, 0]);
    expect(call('f64_div', 0x0000_0000_0000_0003n, f64bits(2), RNE)).toEqual([2n, UF | NX]); // 1.5 ulp → 2
    expect(call('f64_div', 0x0000_0000_0000_0003n, f64bits(2), RMM)).toEqual([2n, UF | NX]);
    expect(call('f64_div', 0x0000_0000_0000_0003n, f64bits(2), RTZ)).toEqual([1n, UF | NX]);
    // narrowing: 2^-126·(1 − 2^-25) rounds up to the smallest normal binary32 without being tiny
    expect(call('f64_to_f32', f64bits(2 ** -126 * (1 - 2 ** -25)), RNE)).toEqual([0x0080_0000n, NX]);
  });

  it('overflow gives ±∞ or ±max-finite by rounding mode, with OF|NX', () => {
    const negMax = F32_MAX | F32_NEG;
    expect(call('f32_mul', F32_MAX, f32bits(2), RNE)).toEqual([F32_INF, OF | NX]);
    expect(call('f32_mul', F32_MAX, f32bits(2), RTZ)).toEqual([F32_MAX, OF | NX]);
    expect(call('f32_mul', F32_MAX, f32bits(2), RDN)).toEqual([F32_MAX, OF | NX]);
    expect(call('f32_mul', F32_MAX, f32bits(2), RUP)).toEqual([F32_INF, OF | NX]);
    expect(call('f32_mul', negMax, f32bits(2), RDN)).toEqual([F32_INF | F32_NEG, OF | NX]);
    expect(call('f32_mul', negMax, f32bits(2), RUP)).toEqual([negMax, OF | NX]);
    expect(call('f32_mul', negMax, f32bits(2), RMM)).toEqual([F32_INF | F32_NEG, OF | NX]);
    expect(call('f64_to_f32', f64bits(2 ** 200), RTZ)).toEqual([F32_MAX, OF | NX]);
  });

  it('division: DZ for finite/0, NV for 0/0 and ∞/∞; sqrt: −0 stays, negatives are invalid', () => {
    expect(call('f64_div', f64bits(-3), 0n, RNE)).toEqual([F64_INF | F64_NEG, DZ]);
    expect(call('f32_div', 0n, 0n, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f32_div', F32_INF, F32_INF | F32_NEG, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f32_div', F32_INF, 0n, RNE)).toEqual([F32_INF, 0]); // ∞/0 is exact ∞, no DZ
    expect(call('f64_sqrt', F64_NEG, RNE)).toEqual([F64_NEG, 0]);
    expect(call('f64_sqrt', f64bits(-1e-300), RNE)).toEqual([F64_QNAN, NV]);
    expect(call('f32_sqrt', F32_INF | F32_NEG, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f32_sqrt', f32bits(2), RUP)).toEqual([f32bits(Math.SQRT2) + 1n, NX]); // fround(√2) is below √2
  });

  it('every NaN result is canonical, and a signalling NaN operand raises NV', () => {
    expect(call('f32_add', 0xffc0_1234n, f32bits(1), RNE)).toEqual([F32_QNAN, 0]);
    expect(call('f32_add', 0xff80_1234n, f32bits(1), RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f64_mul', 0xfff0_0000_0000_0005n, f64bits(1), RNE)).toEqual([F64_QNAN, NV]);
    expect(call('f32_to_f64', 0xff80_0001n)).toEqual([F64_QNAN, NV]);
    expect(call('f32_to_f64', 0xffc0_0001n)).toEqual([F64_QNAN, 0]);
    expect(call('f64_to_f32', 0x7ff0_0000_0000_0001n, RNE)).toEqual([F32_QNAN, NV]);
    expect(call('f32_classify', F32_SNAN)).toEqual([0x100n, 0]);
    expect(call('f32_classify', F32_QNAN)).toEqual([0x200n, 0]);
    expect(call('f64_classify', 0x8000_0000_0000_0001n)).toEqual([0x004n, 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// Randomized: fast paths against their integer-only twins, and RNE against the host.

/** xorshift128+, seeded: deterministic across runs. */
function makeRng(seed: number): () => bigint {
  let s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  let s1 = 0x6a09e667f3bcc909n ^ BigInt(seed);
  const M = (1n << 64n) - 1n;
  return () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x = (x ^ (x << 23n)) & M;
    s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (s1 + y) & M;
  };
}

/** Random bit patterns that hit the interesting places: uniform bits, exponents near 0 and near
 *  the ends of the range, significands with long runs of ones or zeros. */
function makeOperandGen(seed: number, width: 32 | 64): () => bigint {
  const rnd = makeRng(seed);
  const fracBits = width === 32 ? 23n : 52n;
  const expMax = width === 32 ? 255 : 2047;
  const bias = width === 32 ? 127 : 1023;
  const mask = (1n << BigInt(width)) - 1n;
  const below = (n: number): number => Number(rnd() % BigInt(n));
  const sig = (): bigint => {
    const fm = (1n << fracBits) - 1n;
    switch (below(4)) {
      case 0:
        return rnd() & fm;
      case 1: {
        const lo = BigInt(below(Number(fracBits)));
        const hi = lo + BigInt(below(Number(fracBits - lo)) + 1);
        return ((1n << hi) - (1n << lo)) & fm;
      }
      case 2: {
        const lo = BigInt(below(Number(fracBits)));
        const hi = lo + BigInt(below(Number(fracBits - lo)) + 1);
        return ~((1n << hi) - (1n << lo)) & fm;
      }
      default:
        return ((1n << BigInt(below(Number(fracBits)))) | (rnd() & 1n)) & fm;
    }
  };
  const edges = [
    0,
    1,
    2,
    3,
    bias - 60,
    bias - 30,
    bias - 1,
    bias,
    bias + 1,
    bias + 30,
    bias + 62,
    bias + 63,
    bias + 64,
    expMax - 3,
    expMax - 2,
    expMax - 1,
  ];
  return () => {
    const sign = rnd() & 1n;
    let e: number;
    switch (below(5)) {
      case 0:
        return rnd() & mask;
      case 1:
        e = edges[below(edges.length)]!;
        break;
      case 2:
        e = Math.floor(bias / 2) + below(bias); // products and quotients stay in range
        break;
      default:
        e = bias - 8 + below(16);
    }
    return (sign << BigInt(width - 1)) | (BigInt(e) << fracBits) | sig();
  };
}

describe('fast paths agree with the integer-only paths (random operands, all rounding modes)', () => {
  const N = 6000;
  for (const op of SOFT) {
    it(`${op} == ${op}_soft`, () => {
      const info = OPS[op]!;
      const width = info.args[0] === 'f32' ? 32 : 64;
      const gen = makeOperandGen(op.length * 7919 + width, width);
      const bad: string[] = [];
      let checked = 0;
      for (let i = 0; i < N; i++) {
        const a = gen();
        let b = gen();
        // close operands half the time, so additions cancel and quotients come near 1
        if (info.args.length === 2 && i & 1) b = (a & ~((1n << 20n) - 1n)) | (b & ((1n << 20n) - 1n));
        const args = info.args.length === 1 ? [a] : [a, b];
        if (info.args.length === 3) {
          // the addend near −a·b a third of the time: cancellation, where the single rounding shows
          const p = bitsToF32(a) * bitsToF32(b);
          const near = BigInt.asUintN(32, f32bits(-p) + BigInt((i % 7) - 3));
          args.push(i % 3 === 0 && Number.isFinite(p) ? near : gen());
        }
        for (let rm = 0; rm < 5; rm++) {
          const fast = run(op, info, args, rm);
          const soft = run(`${op}_soft`, info, args, rm);
          checked++;
          if (fast[0] !== soft[0] || fast[1] !== soft[1])
            bad.push(
              `${op}(${args.map(hex).join(', ')}, ${RM_NAMES[rm]}): fast ${hex(fast[0])} ${flagText(fast[1])}, soft ${hex(soft[0])} ${flagText(soft[1])}`,
            );
        }
      }
      expect(bad.slice(0, 10)).toEqual([]);
      expect(checked).toBe(N * 5);
    });
  }
});

describe('RNE results agree with the host IEEE arithmetic (random operands)', () => {
  const N = 20000;
  const canonical = (width: 32 | 64, host: number, bits: bigint): bigint =>
    Number.isNaN(host) ? (width === 32 ? F32_QNAN : F64_QNAN) : bits;

  it('binary64 add, sub, mul, div, sqrt', () => {
    const gen = makeOperandGen(64064, 64);
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      const a = gen();
      const b = i & 1 ? gen() : (a & ~0xfffffn) | (gen() & 0xfffffn);
      const x = bitsToF64(a);
      const y = bitsToF64(b);
      const cases: [string, bigint[], number][] = [
        ['f64_add', [a, b], x + y],
        ['f64_sub', [a, b], x - y],
        ['f64_mul', [a, b], x * y],
        ['f64_div', [a, b], x / y],
        ['f64_sqrt', [a], Math.sqrt(x)],
      ];
      for (const [name, args, host] of cases) {
        const want = canonical(64, host, f64bits(host));
        const [got] = run(name, OPS[name]!, args, RNE);
        if (got !== want) bad.push(`${name}(${args.map(hex).join(', ')}) = ${hex(got)}, host ${hex(want)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('binary32 add, sub, mul, div, sqrt (binary64 then fround: double rounding is innocuous here)', () => {
    // 53 >= 2·24 + 2, so rounding the binary64 result of +, −, ×, ÷, √ to binary32 is correct.
    const gen = makeOperandGen(32032, 32);
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      const a = gen();
      const b = i & 1 ? gen() : (a & ~0xfffn) | (gen() & 0xfffn);
      const x = bitsToF32(a);
      const y = bitsToF32(b);
      const cases: [string, bigint[], number][] = [
        ['f32_add', [a, b], Math.fround(x + y)],
        ['f32_sub', [a, b], Math.fround(x - y)],
        ['f32_mul', [a, b], Math.fround(x * y)],
        ['f32_div', [a, b], Math.fround(x / y)],
        ['f32_sqrt', [a], Math.fround(Math.sqrt(x))],
      ];
      for (const [name, args, host] of cases) {
        const want = canonical(32, host, f32bits(host));
        const [got] = run(name, OPS[name]!, args, RNE);
        if (got !== want) bad.push(`${name}(${args.map(hex).join(', ')}) = ${hex(got)}, host ${hex(want)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});
