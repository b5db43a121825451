/**
 * IEEE 754-2008 binary32/binary64 arithmetic exactly as the RISC-V F and D extensions require
 * (unprivileged spec 20191213, ch. 11 "F", ch. 12 "D"): all five rounding modes, the five sticky
 * exception flags, fused multiply-add with one rounding, and RISC-V's NaN rules ("the canonical NaN"
 * for every NaN result, §11.3). Values travel as raw bit patterns; nothing here allocates.
 *
 * Method: softfloat style. Unpack to sign / biased exponent / integer significand, compute exactly
 * (or with the discarded bits jammed into a sticky bit), then round once in roundPack32/roundPack64.
 * The `*_soft` functions are that method alone; the public functions put a fast path in front where
 * the host's IEEE arithmetic provably gives the same bits (wasm's f32/f64 ops are correctly rounded
 * to nearest-even and keep subnormals), plus an exact integer check that decides NX or the directed
 * rounding. fpu.test.ts compares every fast path against its `_soft` twin.
 *
 * "In the parlance of the IEEE standard, tininess is detected after rounding" (§11.4 Subnormal
 * Arithmetic): UF is raised only when the result, rounded as if the exponent range were unbounded, is
 * below the smallest normal AND the delivered result is inexact.
 *
 * Section numbers are those of the unprivileged spec 20191213 (F chapter = 11).
 */

/** Sticky exception flags, in fcsr.fflags bit order. Every function ORs into it, nobody clears it here. */
export let fflags: u32 = 0;

const NV: u32 = 0x10; // invalid operation
const DZ: u32 = 0x08; // divide by zero
const OF: u32 = 0x04; // overflow
const UF: u32 = 0x02; // underflow
const NX: u32 = 0x01; // inexact

const RNE: u32 = 0; // round to nearest, ties to even
const RTZ: u32 = 1; // toward zero
const RDN: u32 = 2; // down (toward -inf)
const RUP: u32 = 3; // up (toward +inf)
const RMM: u32 = 4; // to nearest, ties away from zero (roundTiesToAway)

const F32_SIGN: u32 = 0x8000_0000;
const F32_INF: u32 = 0x7f80_0000;
const F32_MAX: u32 = 0x7f7f_ffff;
const F32_QNAN: u32 = 0x7fc0_0000; // "the canonical NaN" (§11.3)
const F32_FRAC: u32 = 0x007f_ffff;
const F32_HIDDEN: u32 = 0x0080_0000;

const F64_SIGN: u64 = 0x8000_0000_0000_0000;
const F64_INF: u64 = 0x7ff0_0000_0000_0000;
const F64_MAX: u64 = 0x7fef_ffff_ffff_ffff;
const F64_QNAN: u64 = 0x7ff8_0000_0000_0000;
const F64_FRAC: u64 = 0x000f_ffff_ffff_ffff;
const F64_HIDDEN: u64 = 0x0010_0000_0000_0000;

const BIT63: u64 = 0x8000_0000_0000_0000;
const BIT62: u64 = 0x4000_0000_0000_0000;

// ---------------------------------------------------------------------------------------------
// Integer helpers. Second results of multi-word operations travel in module globals.

let wideHi: u64 = 0;
let wideLo: u64 = 0;

/** Low 64 bits of a × b; the high 64 bits are left in wideHi. */
@inline function mul64(a: u64, b: u64): u64 {
  const a0 = a & 0xffff_ffff;
  const a1 = a >> 32;
  const b0 = b & 0xffff_ffff;
  const b1 = b >> 32;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >> 32) + (p01 & 0xffff_ffff) + (p10 & 0xffff_ffff);
  wideHi = a1 * b1 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return (mid << 32) | (p00 & 0xffff_ffff);
}

/** x >> n, with every bit shifted out ORed into bit 0 (the sticky bit). n >= 0, any size. */
@inline function jam64(x: u64, n: i32): u64 {
  if (n <= 0) return x;
  if (n >= 64) return <u64>(x != 0);
  return (x >> <u64>n) | <u64>((x << <u64>(64 - n)) != 0);
}

/** (hi:lo) >> n with sticky jamming; result in wideHi:wideLo. */
function jam128(hi: u64, lo: u64, n: i32): void {
  if (n <= 0) {
    wideHi = hi;
    wideLo = lo;
  } else if (n < 64) {
    wideLo = (lo >> <u64>n) | (hi << <u64>(64 - n)) | <u64>((lo << <u64>(64 - n)) != 0);
    wideHi = hi >> <u64>n;
  } else if (n == 64) {
    wideLo = hi | <u64>(lo != 0);
    wideHi = 0;
  } else if (n < 128) {
    wideLo = (hi >> <u64>(n - 64)) | <u64>(((hi << <u64>(128 - n)) | lo) != 0);
    wideHi = 0;
  } else {
    wideLo = <u64>((hi | lo) != 0);
    wideHi = 0;
  }
}

/** (hi:lo) << n for 0 <= n < 128; result in wideHi:wideLo. */
@inline function shl128(hi: u64, lo: u64, n: i32): void {
  if (n == 0) {
    wideHi = hi;
    wideLo = lo;
  } else if (n < 64) {
    wideHi = (hi << <u64>n) | (lo >> <u64>(64 - n));
    wideLo = lo << <u64>n;
  } else {
    wideHi = lo << <u64>(n - 64);
    wideLo = 0;
  }
}

/** Sign of m1·m2 − m3·2^k (all operands below 2^64, product below 2^128, 0 <= k < 128). */
@inline function cmpProductShifted(m1: u64, m2: u64, m3: u64, k: i32): i32 {
  const lo = mul64(m1, m2);
  const hi = wideHi;
  shl128(0, m3, k);
  if (hi != wideHi) return hi > wideHi ? 1 : -1;
  if (lo != wideLo) return lo > wideLo ? 1 : -1;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Rounding. Both packers take a significand with its leading one at bit 62 (bit 63 free for the
// rounding carry) and the bits below the format's last fraction bit jammed so that "any nonzero bit
// below" survives in bit 0. The value is sig / 2^62 · 2^(e − bias).

/** What to add to the discarded bits before truncating: half for the nearest modes, all ones
 *  (i.e. "any nonzero discarded bit carries") when rounding away from zero in a directed mode. */
@inline function roundIncrement(rm: u32, sign: u32, mask: u64): u64 {
  if (rm == RNE || rm == RMM) return (mask >> 1) + 1;
  if (rm == RTZ) return 0;
  return (rm == RDN) == (sign != 0) ? mask : 0;
}

/** On overflow the result is ±∞ unless the mode rounds toward zero for this sign (754 §7.4). */
@inline function overflowGivesMax(rm: u32, sign: u32): bool {
  return rm == RTZ || (rm == RDN && sign == 0) || (rm == RUP && sign != 0);
}

function roundPack32(sign: u32, e: i32, sig: u64, rm: u32): u32 {
  const MASK: u64 = (<u64>1 << 39) - 1; // 62 − 23 discarded bits
  const HALF: u64 = <u64>1 << 38;
  const inc = roundIncrement(rm, sign, MASK);
  const s = sign << 31;
  if (e <= 0) {
    // Tiny unless e == 0 and rounding to 24 bits (unbounded exponent) carries up to 2^-126.
    const tiny = e < 0 || sig + inc < BIT63;
    sig = jam64(sig, 1 - e);
    const rest = sig & MASK;
    if (rest != 0) fflags |= tiny ? UF | NX : NX;
    sig = (sig + inc) >> 39;
    if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
    // A carry into bit 23 makes the smallest normal, which the exponent field 1 encodes.
    return s | <u32>sig;
  }
  if (e >= 0xfe && (e > 0xfe || sig + inc >= BIT63)) {
    fflags |= OF | NX;
    return s | (overflowGivesMax(rm, sign) ? F32_MAX : F32_INF);
  }
  const rest = sig & MASK;
  if (rest != 0) fflags |= NX;
  sig = (sig + inc) >> 39;
  if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
  // sig includes the hidden bit, which adds one to the exponent field; a carry to 2^24 adds two.
  return s | ((<u32>(e - 1) << 23) + <u32>sig);
}

function roundPack64(sign: u32, e: i32, sig: u64, rm: u32): u64 {
  const MASK: u64 = 0x3ff; // 62 − 52 discarded bits
  const HALF: u64 = 0x200;
  const inc = roundIncrement(rm, sign, MASK);
  const s = <u64>sign << 63;
  if (e <= 0) {
    const tiny = e < 0 || sig + inc < BIT63;
    sig = jam64(sig, 1 - e);
    const rest = sig & MASK;
    if (rest != 0) fflags |= tiny ? UF | NX : NX;
    sig = (sig + inc) >> 10;
    if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
    return s | sig;
  }
  if (e >= 0x7fe && (e > 0x7fe || sig + inc >= BIT63)) {
    fflags |= OF | NX;
    return s | (overflowGivesMax(rm, sign) ? F64_MAX : F64_INF);
  }
  const rest = sig & MASK;
  if (rest != 0) fflags |= NX;
  sig = (sig + inc) >> 10;
  if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
  return s | ((<u64>(e - 1) << 52) + sig);
}

// ---------------------------------------------------------------------------------------------
// Classification helpers.

@inline function isNaN32(a: u32): bool {
  return (a & 0x7fff_ffff) > F32_INF;
}
@inline function isSNaN32(a: u32): bool {
  return (a & 0x7fc0_0000) == 0x7f80_0000 && (a & 0x003f_ffff) != 0;
}
@inline function isNaN64(a: u64): bool {
  return (a & 0x7fff_ffff_ffff_ffff) > F64_INF;
}
@inline function isSNaN64(a: u64): bool {
  return (a & 0x7ff8_0000_0000_0000) == F64_INF && (a & 0x0007_ffff_ffff_ffff) != 0;
}

/** NaN result of an operation with a NaN operand: canonical, NV if any operand signals (§11.3). */
function nanResult32(a: u32, b: u32): u32 {
  if (isSNaN32(a) || isSNaN32(b)) fflags |= NV;
  return F32_QNAN;
}
function nanResult64(a: u64, b: u64): u64 {
  if (isSNaN64(a) || isSNaN64(b)) fflags |= NV;
  return F64_QNAN;
}

/** The exact zero sum of two zeros: "x + x = x − (−x) retains the same sign as x" and a zero sum of
 *  opposite signs is +0, or −0 when rounding down (754 §6.3). */
@inline function zeroSum32(a: u32, b: u32, rm: u32): u32 {
  return a == b ? a : rm == RDN ? F32_SIGN : 0;
}
@inline function zeroSum64(a: u64, b: u64, rm: u32): u64 {
  return a == b ? a : rm == RDN ? F64_SIGN : 0;
}

// Unpacked normalized significands and exponents of finite nonzero operands.
let unpackSig: u64 = 0;
let unpackExp: i32 = 0;

/** Significand of a finite nonzero binary32 with the hidden bit at 23 (subnormals normalized, their
 *  exponent then below 1) into unpackSig / unpackExp. */
@inline function unpack32(a: u32): void {
  const e = <i32>((a >> 23) & 0xff);
  const f = a & F32_FRAC;
  if (e == 0) {
    const sh = <i32>clz(f) - 8;
    unpackSig = <u64>(f << sh);
    unpackExp = 1 - sh;
  } else {
    unpackSig = <u64>(f | F32_HIDDEN);
    unpackExp = e;
  }
}
/** The same for binary64, hidden bit at 52. */
@inline function unpack64(a: u64): void {
  const e = <i32>((a >> 52) & 0x7ff);
  const f = a & F64_FRAC;
  if (e == 0) {
    const sh = <i32>clz(f) - 11;
    unpackSig = f << <u64>sh;
    unpackExp = 1 - sh;
  } else {
    unpackSig = f | F64_HIDDEN;
    unpackExp = e;
  }
}

// =============================================================================================
// binary32

export function f32_add_soft(a: u32, b: u32, rm: u32): u32 {
  let ea = <i32>((a >> 23) & 0xff);
  let eb = <i32>((b >> 23) & 0xff);
  const sa = a >> 31;
  const sb = b >> 31;
  if (ea == 0xff || eb == 0xff) {
    if (isNaN32(a) || isNaN32(b)) return nanResult32(a, b);
    if (ea == eb && sa != sb) {
      fflags |= NV; // ∞ − ∞
      return F32_QNAN;
    }
    return ea == 0xff ? a : b;
  }
  if ((a << 1) == 0) return (b << 1) == 0 ? zeroSum32(a, b, rm) : b;
  if ((b << 1) == 0) return a;
  // Hidden bit at 61, leaving bit 62 for the carry of an addition; 38 guard bits below.
  let ma = <u64>(a & F32_FRAC);
  let mb = <u64>(b & F32_FRAC);
  if (ea == 0) ea = 1;
  else ma |= F32_HIDDEN;
  if (eb == 0) eb = 1;
  else mb |= F32_HIDDEN;
  ma <<= 38;
  mb <<= 38;
  let sign = sa;
  if (eb > ea || (eb == ea && mb > ma)) {
    const t = ma;
    ma = mb;
    mb = t;
    const te = ea;
    ea = eb;
    eb = te;
    sign = sb;
  }
  mb = jam64(mb, ea - eb);
  const sum = sa == sb ? ma + mb : ma - mb;
  // Exact cancellation of nonzero operands gives +0, −0 when rounding down (754 §6.3).
  if (sum == 0) return rm == RDN ? F32_SIGN : 0;
  const shift = <i32>clz(sum) - 1;
  return roundPack32(sign, ea + 1 - shift, sum << <u64>shift, rm);
}

export function f32_add(a: u32, b: u32, rm: u32): u32 {
  if (rm == RNE) {
    const x = reinterpret<f32>(a);
    const y = reinterpret<f32>(b);
    const r = x + y;
    const rb = reinterpret<u32>(r);
    // Finite and below 2^127: no overflow anywhere, and the host's sum is the RNE result (sums
    // that land in the subnormal range are exact, so they never underflow). Knuth's TwoSum then
    // gives the exact rounding error.
    if ((rb & 0x7f00_0000) != 0x7f00_0000) {
      const bb = r - x;
      const err = (x - (r - bb)) + (y - bb);
      if (err != 0) fflags |= NX;
      return rb;
    }
  }
  return f32_add_soft(a, b, rm);
}

export function f32_sub_soft(a: u32, b: u32, rm: u32): u32 {
  return f32_add_soft(a, b ^ F32_SIGN, rm);
}
export function f32_sub(a: u32, b: u32, rm: u32): u32 {
  // Flipping a NaN's sign changes nothing: NaN results are canonical.
  return f32_add(a, b ^ F32_SIGN, rm);
}

export function f32_mul_soft(a: u32, b: u32, rm: u32): u32 {
  const ea = (a >> 23) & 0xff;
  const eb = (b >> 23) & 0xff;
  const sign = (a ^ b) >> 31;
  if (ea == 0xff || eb == 0xff) {
    if (isNaN32(a) || isNaN32(b)) return nanResult32(a, b);
    if ((a << 1) == 0 || (b << 1) == 0) {
      fflags |= NV; // ∞ × 0
      return F32_QNAN;
    }
    return (sign << 31) | F32_INF;
  }
  if ((a << 1) == 0 || (b << 1) == 0) return sign << 31;
  unpack32(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack32(b);
  const p = ma * unpackSig; // exact, in [2^46, 2^48)
  let e = xa + unpackExp - 126;
  let sig = p << 15;
  if (sig < BIT62) {
    sig <<= 1;
    e--;
  }
  return roundPack32(sign, e, sig, rm);
}

export function f32_mul(a: u32, b: u32, rm: u32): u32 {
  if (rm == RNE) {
    // A product of two 24-bit significands is exact in binary64, so demoting it is one rounding.
    const d = <f64>reinterpret<f32>(a) * <f64>reinterpret<f32>(b);
    const r = <f32>d;
    const rb = reinterpret<u32>(r);
    const ex = rb & F32_INF;
    // |r| >= 2^-125 and finite: no overflow, and not tiny after rounding.
    if ((ex > 0x0080_0000 && ex != F32_INF) || d == 0) {
      if (<f64>r != d) fflags |= NX;
      return rb;
    }
  }
  return f32_mul_soft(a, b, rm);
}

export function f32_div_soft(a: u32, b: u32, rm: u32): u32 {
  const ea = (a >> 23) & 0xff;
  const eb = (b >> 23) & 0xff;
  const sign = (a ^ b) >> 31;
  if (ea == 0xff) {
    if (isNaN32(a) || isNaN32(b)) return nanResult32(a, b);
    if (eb == 0xff) {
      fflags |= NV; // ∞ / ∞
      return F32_QNAN;
    }
    return (sign << 31) | F32_INF;
  }
  if (eb == 0xff) {
    if (isNaN32(b)) return nanResult32(a, b);
    return sign << 31; // finite / ∞
  }
  if ((b << 1) == 0) {
    if ((a << 1) == 0) {
      fflags |= NV; // 0 / 0
      return F32_QNAN;
    }
    fflags |= DZ;
    return (sign << 31) | F32_INF;
  }
  if ((a << 1) == 0) return sign << 31;
  unpack32(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack32(b);
  const mb = unpackSig;
  const num = ma << 39;
  const q = num / mb; // in (2^38, 2^40): at least 39 quotient bits
  const rem = num - q * mb;
  const shift = <i32>clz(q) - 1;
  const sig = (q << <u64>shift) | <u64>(rem != 0);
  return roundPack32(sign, xa - unpackExp + 150 - shift, sig, rm);
}

export function f32_div(a: u32, b: u32, rm: u32): u32 {
  if (rm == RNE) {
    const x = reinterpret<f32>(a);
    const y = reinterpret<f32>(b);
    const r = x / y;
    const rb = reinterpret<u32>(r);
    const ex = rb & F32_INF;
    if (ex > 0x0080_0000 && ex != F32_INF) {
      // r normal and finite: the quotient is exact iff r·y == x, and r·y is exact in binary64.
      if (<f64>r * <f64>y != <f64>x) fflags |= NX;
      return rb;
    }
  }
  return f32_div_soft(a, b, rm);
}

/** floor(sqrt(n)) for n < 2^63: a float estimate, then exact integer correction. */
@inline function isqrt64(n: u64): u64 {
  let s = <u64>Math.sqrt(<f64>n);
  while (s * s > n) s--;
  while ((s + 1) * (s + 1) <= n) s++;
  return s;
}

export function f32_sqrt_soft(a: u32, rm: u32): u32 {
  if (isNaN32(a)) return nanResult32(a, a);
  if ((a << 1) == 0) return a; // sqrt(±0) = ±0
  if ((a >> 31) != 0) {
    fflags |= NV; // negative, including −∞
    return F32_QNAN;
  }
  if (a == F32_INF) return a;
  unpack32(a);
  const E = unpackExp - 127; // value = m · 2^(E − 23)
  let n: u64;
  let k: i32; // value = n · 2^k with k even
  if ((E & 1) == 0) {
    n = unpackSig << 39;
    k = E - 62;
  } else {
    n = unpackSig << 38;
    k = E - 61;
  }
  const s = isqrt64(n);
  const rem = n - s * s;
  const lead = 63 - <i32>clz(s);
  const sig = (s << <u64>(62 - lead)) | <u64>(rem != 0);
  return roundPack32(0, 127 + lead + (k >> 1), sig, rm);
}

export function f32_sqrt(a: u32, rm: u32): u32 {
  if (a - 1 < F32_INF - 1) {
    // Positive, finite, nonzero. The host's sqrt is the RNE result. A square root is never a
    // midpoint between two floats (a 25-bit odd significand squares to more than 24 bits), so RMM
    // agrees with RNE, and the sign of r·r − x (r·r is exact in binary64) tells which neighbour the
    // directed modes want.
    const x = reinterpret<f32>(a);
    const r = Mathf.sqrt(x);
    let rb = reinterpret<u32>(r);
    const sq = <f64>r * <f64>r;
    const xd = <f64>x;
    if (sq != xd) {
      fflags |= NX;
      if (sq > xd) {
        if (rm == RTZ || rm == RDN) rb--;
      } else if (rm == RUP) rb++;
    }
    return rb;
  }
  return f32_sqrt_soft(a, rm);
}

export function f32_fma(a: u32, b: u32, c: u32, rm: u32): u32 {
  if (rm == RNE) {
    // a·b is exact in binary64 (48 bits). Round a·b + c to binary64 *to odd* (RNE sum, then if the
    // TwoSum error is nonzero and the sum's last bit is even, step one ulp toward the exact value);
    // rounding that to binary32 is then the correctly rounded result, since 53 >= 24 + 2 (Boldo &
    // Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
    // odd", 2008). Magnitudes stay within 2^-298..2^256, so binary64 neither overflows nor loses
    // bits to its subnormal range.
    const p = <f64>reinterpret<f32>(a) * <f64>reinterpret<f32>(b);
    const z = <f64>reinterpret<f32>(c);
    const s = p + z;
    const bb = s - p;
    const err = (p - (s - bb)) + (z - bb);
    let sb = reinterpret<u64>(s);
    if (err != 0 && (sb & 1) == 0) sb += (err > 0) == (s > 0) ? 1 : -1;
    const r = <f32>reinterpret<f64>(sb);
    const rb = reinterpret<u32>(r);
    const ex = rb & F32_INF;
    if (ex > 0x0080_0000 && ex != F32_INF) {
      if (err != 0 || <f64>r != s) fflags |= NX;
      return rb;
    }
    // An exact zero: the host's sum already has the 754 §6.3 sign (+0 for x − x in RNE).
    if (s == 0 && err == 0) return rb;
  }
  return f32_fma_soft(a, b, c, rm);
}

export function f32_fma_soft(a: u32, b: u32, c: u32, rm: u32): u32 {
  const aInf = (a << 1) == F32_INF << 1;
  const bInf = (b << 1) == F32_INF << 1;
  const aZero = (a << 1) == 0;
  const bZero = (b << 1) == 0;
  // "The fused multiply-add instructions must set the invalid operation exception flag when the
  // multiplicands are ∞ and zero, even when the addend is a quiet NaN" (§11.6).
  if ((aInf && bZero) || (aZero && bInf)) {
    fflags |= NV;
    return F32_QNAN;
  }
  if (isNaN32(a) || isNaN32(b) || isNaN32(c)) {
    if (isSNaN32(a) || isSNaN32(b) || isSNaN32(c)) fflags |= NV;
    return F32_QNAN;
  }
  const ps = (a ^ b) >> 31;
  const sc = c >> 31;
  const cInf = (c << 1) == F32_INF << 1;
  if (aInf || bInf) {
    if (cInf && sc != ps) {
      fflags |= NV; // ∞ − ∞
      return F32_QNAN;
    }
    return (ps << 31) | F32_INF;
  }
  if (cInf) return c;
  const cZero = (c << 1) == 0;
  if (aZero || bZero) return cZero ? zeroSum32(ps << 31, c, rm) : c;

  unpack32(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack32(b);
  const p = ma * unpackSig; // exact, in [2^46, 2^48)
  // Both addends with their leading one at bit 61: value = sig / 2^61 · 2^(e − 127).
  let pSig: u64;
  let pExp: i32;
  if (p >= <u64>1 << 47) {
    pSig = p << 14;
    pExp = xa + unpackExp - 126;
  } else {
    pSig = p << 15;
    pExp = xa + unpackExp - 127;
  }
  if (cZero) return roundPack32(ps, pExp, pSig << 1, rm); // a·b + 0 is a·b, rounded once
  unpack32(c);
  let cSig = unpackSig << 38;
  let cExp = unpackExp;
  let sign = ps;
  if (cExp > pExp || (cExp == pExp && cSig > pSig)) {
    const t = pSig;
    pSig = cSig;
    cSig = t;
    const te = pExp;
    pExp = cExp;
    cExp = te;
    sign = sc;
  }
  // Bits lost here sit far below the rounding position: an exponent gap of 2 or more cancels at
  // most one leading bit; a gap of 0 or 1 loses nothing (the product occupies bits 61..14).
  cSig = jam64(cSig, pExp - cExp);
  const sum = ps == sc ? pSig + cSig : pSig - cSig;
  if (sum == 0) return rm == RDN ? F32_SIGN : 0;
  const shift = <i32>clz(sum) - 1;
  return roundPack32(sign, pExp + 1 - shift, sum << <u64>shift, rm);
}

/** Total order of non-NaN values with −0 < +0, as minimumNumber/maximumNumber need. */
@inline function less32(a: u32, b: u32): bool {
  const sa = a >> 31;
  if (sa != b >> 31) return sa != 0;
  return a != b && (a < b) != (sa != 0);
}

// fmin/fmax are 754-2019 minimumNumber/maximumNumber (§11.6, F 2.2): a single NaN operand yields
// the other operand, two give the canonical NaN, and any signalling NaN raises NV.
export function f32_min(a: u32, b: u32): u32 {
  const an = isNaN32(a);
  const bn = isNaN32(b);
  if (an || bn) {
    if (isSNaN32(a) || isSNaN32(b)) fflags |= NV;
    return an && bn ? F32_QNAN : an ? b : a;
  }
  return less32(a, b) ? a : b;
}
export function f32_max(a: u32, b: u32): u32 {
  const an = isNaN32(a);
  const bn = isNaN32(b);
  if (an || bn) {
    if (isSNaN32(a) || isSNaN32(b)) fflags |= NV;
    return an && bn ? F32_QNAN : an ? b : a;
  }
  return less32(a, b) ? b : a;
}

/** FEQ is a quiet comparison: NV only for a signalling NaN operand (§11.8). */
export function f32_eq(a: u32, b: u32): bool {
  if (isNaN32(a) || isNaN32(b)) {
    if (isSNaN32(a) || isSNaN32(b)) fflags |= NV;
    return false;
  }
  return a == b || ((a | b) << 1) == 0;
}
/** FLT and FLE are signalling comparisons: NV for any NaN operand (§11.8). */
export function f32_lt(a: u32, b: u32): bool {
  if (isNaN32(a) || isNaN32(b)) {
    fflags |= NV;
    return false;
  }
  return ((a | b) << 1) != 0 && less32(a, b);
}
export function f32_le(a: u32, b: u32): bool {
  if (isNaN32(a) || isNaN32(b)) {
    fflags |= NV;
    return false;
  }
  return ((a | b) << 1) == 0 || a == b || less32(a, b);
}

/** FCLASS.S: one bit of ten (§11.9, table 11.5). */
export function f32_classify(a: u32): u32 {
  const negative = (a >> 31) != 0;
  const e = (a >> 23) & 0xff;
  const f = a & F32_FRAC;
  if (e == 0xff) {
    if (f == 0) return negative ? 1 << 0 : 1 << 7;
    return (f & 0x0040_0000) != 0 ? 1 << 9 : 1 << 8;
  }
  if (e == 0) {
    if (f == 0) return negative ? 1 << 3 : 1 << 4;
    return negative ? 1 << 2 : 1 << 5;
  }
  return negative ? 1 << 1 : 1 << 6;
}

// =============================================================================================
// binary64

export function f64_add_soft(a: u64, b: u64, rm: u32): u64 {
  let ea = <i32>((a >> 52) & 0x7ff);
  let eb = <i32>((b >> 52) & 0x7ff);
  const sa = <u32>(a >> 63);
  const sb = <u32>(b >> 63);
  if (ea == 0x7ff || eb == 0x7ff) {
    if (isNaN64(a) || isNaN64(b)) return nanResult64(a, b);
    if (ea == eb && sa != sb) {
      fflags |= NV; // ∞ − ∞
      return F64_QNAN;
    }
    return ea == 0x7ff ? a : b;
  }
  if ((a << 1) == 0) return (b << 1) == 0 ? zeroSum64(a, b, rm) : b;
  if ((b << 1) == 0) return a;
  let ma = a & F64_FRAC;
  let mb = b & F64_FRAC;
  if (ea == 0) ea = 1;
  else ma |= F64_HIDDEN;
  if (eb == 0) eb = 1;
  else mb |= F64_HIDDEN;
  ma <<= 9; // hidden bit at 61, 9 guard bits
  mb <<= 9;
  let sign = sa;
  if (eb > ea || (eb == ea && mb > ma)) {
    const t = ma;
    ma = mb;
    mb = t;
    const te = ea;
    ea = eb;
    eb = te;
    sign = sb;
  }
  mb = jam64(mb, ea - eb);
  const sum = sa == sb ? ma + mb : ma - mb;
  if (sum == 0) return rm == RDN ? F64_SIGN : 0;
  const shift = <i32>clz(sum) - 1;
  return roundPack64(sign, ea + 1 - shift, sum << <u64>shift, rm);
}

export function f64_add(a: u64, b: u64, rm: u32): u64 {
  if (rm == RNE) {
    const x = reinterpret<f64>(a);
    const y = reinterpret<f64>(b);
    const r = x + y;
    const rb = reinterpret<u64>(r);
    if ((rb & 0x7fe0_0000_0000_0000) != 0x7fe0_0000_0000_0000) {
      const bb = r - x;
      const err = (x - (r - bb)) + (y - bb);
      if (err != 0) fflags |= NX;
      return rb;
    }
  }
  return f64_add_soft(a, b, rm);
}

export function f64_sub_soft(a: u64, b: u64, rm: u32): u64 {
  return f64_add_soft(a, b ^ F64_SIGN, rm);
}
export function f64_sub(a: u64, b: u64, rm: u32): u64 {
  return f64_add(a, b ^ F64_SIGN, rm);
}

export function f64_mul_soft(a: u64, b: u64, rm: u32): u64 {
  const ea = <u32>(a >> 52) & 0x7ff;
  const eb = <u32>(b >> 52) & 0x7ff;
  const sign = <u32>((a ^ b) >> 63);
  if (ea == 0x7ff || eb == 0x7ff) {
    if (isNaN64(a) || isNaN64(b)) return nanResult64(a, b);
    if ((a << 1) == 0 || (b << 1) == 0) {
      fflags |= NV; // ∞ × 0
      return F64_QNAN;
    }
    return (<u64>sign << 63) | F64_INF;
  }
  if ((a << 1) == 0 || (b << 1) == 0) return <u64>sign << 63;
  unpack64(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack64(b);
  // (ma << 10)·(mb << 11) is in [2^125, 2^127): its high half has the leading one at 61 or 62.
  const lo = mul64(ma << 10, unpackSig << 11);
  const hi = wideHi;
  let e = xa + unpackExp - 1022;
  let sig: u64;
  if (hi < BIT62) {
    sig = (hi << 1) | (lo >> 63) | <u64>((lo << 1) != 0);
    e--;
  } else {
    sig = hi | <u64>(lo != 0);
  }
  return roundPack64(sign, e, sig, rm);
}

export function f64_mul(a: u64, b: u64, rm: u32): u64 {
  if (rm == RNE) {
    const ea = <i32>((a >> 52) & 0x7ff);
    const eb = <i32>((b >> 52) & 0x7ff);
    if (<u32>(ea - 1) < 0x7fe && <u32>(eb - 1) < 0x7fe) {
      const r = reinterpret<f64>(a) * reinterpret<f64>(b);
      const rb = reinterpret<u64>(r);
      const er = <i32>((rb >> 52) & 0x7ff);
      // Normal operands, |r| >= 2^-1021 and finite: no overflow, not tiny after rounding. The
      // exact product ma·mb has 105 or 106 bits of which r keeps 53, so it is exact iff the low
      // 52 + (er − (ea + eb − 1023)) bits of ma·mb are zero (a rounding carry into the next binade
      // only happens when inexact, and then the wider mask still sees the nonzero bits).
      if (er >= 2 && er != 0x7ff) {
        const discard = 52 + er - (ea + eb - 1023);
        const ma = (a & F64_FRAC) | F64_HIDDEN;
        const mb = (b & F64_FRAC) | F64_HIDDEN;
        if (((ma * mb) & ((<u64>1 << <u64>discard) - 1)) != 0) fflags |= NX;
        return rb;
      }
    }
  }
  return f64_mul_soft(a, b, rm);
}

export function f64_div_soft(a: u64, b: u64, rm: u32): u64 {
  const ea = <u32>(a >> 52) & 0x7ff;
  const eb = <u32>(b >> 52) & 0x7ff;
  const sign = <u32>((a ^ b) >> 63);
  if (ea == 0x7ff) {
    if (isNaN64(a) || isNaN64(b)) return nanResult64(a, b);
    if (eb == 0x7ff) {
      fflags |= NV; // ∞ / ∞
      return F64_QNAN;
    }
    return (<u64>sign << 63) | F64_INF;
  }
  if (eb == 0x7ff) {
    if (isNaN64(b)) return nanResult64(a, b);
    return <u64>sign << 63;
  }
  if ((b << 1) == 0) {
    if ((a << 1) == 0) {
      fflags |= NV; // 0 / 0
      return F64_QNAN;
    }
    fflags |= DZ;
    return (<u64>sign << 63) | F64_INF;
  }
  if ((a << 1) == 0) return <u64>sign << 63;
  unpack64(a);
  let ma = unpackSig;
  const xa = unpackExp;
  unpack64(b);
  const mb = unpackSig;
  let e = xa - unpackExp + 1023;
  if (ma < mb) {
    ma <<= 1;
    e--;
  }
  // Long division, 11 quotient bits per step: the remainder stays below mb < 2^53, so rem << 11
  // fits in 64 bits. 1 + 5·11 = 56 quotient bits, then the remainder as the sticky bit.
  let q: u64 = 1;
  let rem = ma - mb;
  for (let i = 0; i < 5; i++) {
    rem <<= 11;
    const d = rem / mb;
    rem -= d * mb;
    q = (q << 11) | d;
  }
  return roundPack64(sign, e, (q << 7) | <u64>(rem != 0), rm);
}

export function f64_div(a: u64, b: u64, rm: u32): u64 {
  const ea = <i32>((a >> 52) & 0x7ff);
  const eb = <i32>((b >> 52) & 0x7ff);
  if (<u32>(ea - 1) < 0x7fe && <u32>(eb - 1) < 0x7fe) {
    const r = reinterpret<f64>(a) / reinterpret<f64>(b);
    let rb = reinterpret<u64>(r);
    const er = <i32>((rb >> 52) & 0x7ff);
    // r normal with room on both sides (2^-1021 <= |r| < 2^1022): neither a step down nor a step
    // up leaves the normal range, so r or a neighbour is the answer in every mode. A quotient of
    // 53-bit significands is never a midpoint (its odd part would need 54 bits but divides the
    // dividend's), so RMM agrees with RNE. Sign of r·b − a, exactly, says which neighbour.
    if (er >= 2 && er <= 0x7fd) {
      const ma = (a & F64_FRAC) | F64_HIDDEN;
      const mb = (b & F64_FRAC) | F64_HIDDEN;
      const mr = (rb & F64_FRAC) | F64_HIDDEN;
      const c = cmpProductShifted(mr, mb, ma, ea - eb - er + 1075);
      if (c != 0) {
        fflags |= NX;
        const negative = (rb >> 63) != 0;
        if (c > 0) {
          // |r| above the exact quotient
          if (rm == RTZ || (rm == RDN && !negative) || (rm == RUP && negative)) rb--;
        } else if ((rm == RDN && negative) || (rm == RUP && !negative)) rb++;
      }
      return rb;
    }
  }
  return f64_div_soft(a, b, rm);
}

export function f64_sqrt_soft(a: u64, rm: u32): u64 {
  if (isNaN64(a)) return nanResult64(a, a);
  if ((a << 1) == 0) return a;
  if ((a >> 63) != 0) {
    fflags |= NV;
    return F64_QNAN;
  }
  if (a == F64_INF) return a;
  unpack64(a);
  const E = unpackExp - 1023; // value = m · 2^(E − 52)
  // Radicand n = m · 2^s (as hi:lo) with E − 52 − s even, about 117 bits, so the root has 59.
  let nHi: u64;
  let nLo: u64;
  let k: i32;
  if ((E & 1) == 0) {
    nHi = unpackSig;
    nLo = 0;
    k = E - 116;
  } else {
    nHi = unpackSig >> 1;
    nLo = unpackSig << 63;
    k = E - 115;
  }
  // Digit-by-digit (restoring) square root, two radicand bits per step.
  let root: u64 = 0;
  let rem: u64 = 0;
  for (let i = 58; i >= 0; i--) {
    const p = i << 1;
    const pair = p >= 64 ? (nHi >> <u64>(p - 64)) & 3 : (nLo >> <u64>p) & 3;
    rem = (rem << 2) | pair;
    const trial = (root << 2) | 1;
    if (rem >= trial) {
      rem -= trial;
      root = (root << 1) | 1;
    } else {
      root <<= 1;
    }
  }
  const lead = 63 - <i32>clz(root);
  const sig = (root << <u64>(62 - lead)) | <u64>(rem != 0);
  return roundPack64(0, 1023 + lead + (k >> 1), sig, rm);
}

export function f64_sqrt(a: u64, rm: u32): u64 {
  if (a - 1 < F64_INF - 1) {
    // Positive, finite, nonzero: as in f32_sqrt, the host's root and the exact sign of r² − a.
    const r = Math.sqrt(reinterpret<f64>(a));
    let rb = reinterpret<u64>(r);
    unpack64(a);
    const mr = (rb & F64_FRAC) | F64_HIDDEN;
    const er = <i32>((rb >> 52) & 0x7ff);
    // r² = mr² · 2^(2er − 2150), a = m · 2^(e − 1075)
    const c = cmpProductShifted(mr, mr, unpackSig, unpackExp - 1075 - 2 * er + 2150);
    if (c != 0) {
      fflags |= NX;
      if (c > 0) {
        if (rm == RTZ || rm == RDN) rb--;
      } else if (rm == RUP) rb++;
    }
    return rb;
  }
  return f64_sqrt_soft(a, rm);
}

export function f64_fma(a: u64, b: u64, c: u64, rm: u32): u64 {
  const aInf = (a << 1) == F64_INF << 1;
  const bInf = (b << 1) == F64_INF << 1;
  const aZero = (a << 1) == 0;
  const bZero = (b << 1) == 0;
  // NV for ∞ × 0 even when the addend is a quiet NaN (§11.6).
  if ((aInf && bZero) || (aZero && bInf)) {
    fflags |= NV;
    return F64_QNAN;
  }
  if (isNaN64(a) || isNaN64(b) || isNaN64(c)) {
    if (isSNaN64(a) || isSNaN64(b) || isSNaN64(c)) fflags |= NV;
    return F64_QNAN;
  }
  const ps = <u32>((a ^ b) >> 63);
  const sc = <u32>(c >> 63);
  const cInf = (c << 1) == F64_INF << 1;
  if (aInf || bInf) {
    if (cInf && sc != ps) {
      fflags |= NV;
      return F64_QNAN;
    }
    return (<u64>ps << 63) | F64_INF;
  }
  if (cInf) return c;
  const cZero = (c << 1) == 0;
  if (aZero || bZero) return cZero ? zeroSum64(<u64>ps << 63, c, rm) : c;

  unpack64(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack64(b);
  // The 106-bit product and the addend as 128-bit numbers with the leading one at bit 125:
  // value = sig / 2^125 · 2^(e − 1023).
  let pLo = mul64(ma, unpackSig);
  let pHi = wideHi;
  let pExp: i32;
  if (pHi >= <u64>1 << 41) {
    pHi = (pHi << 20) | (pLo >> 44);
    pLo <<= 20;
    pExp = xa + unpackExp - 1022;
  } else {
    pHi = (pHi << 21) | (pLo >> 43);
    pLo <<= 21;
    pExp = xa + unpackExp - 1023;
  }
  if (cZero) return roundPack64(ps, pExp, (pHi << 1) | (pLo >> 63) | <u64>((pLo << 1) != 0), rm);
  unpack64(c);
  let cHi = unpackSig << 9;
  let cLo: u64 = 0;
  let cExp = unpackExp;
  let sign = ps;
  if (cExp > pExp || (cExp == pExp && (cHi > pHi || (cHi == pHi && cLo > pLo)))) {
    let t = pHi;
    pHi = cHi;
    cHi = t;
    t = pLo;
    pLo = cLo;
    cLo = t;
    const te = pExp;
    pExp = cExp;
    cExp = te;
    sign = sc;
  }
  jam128(cHi, cLo, pExp - cExp);
  cHi = wideHi;
  cLo = wideLo;
  let sHi: u64;
  let sLo: u64;
  if (ps == sc) {
    sLo = pLo + cLo;
    sHi = pHi + cHi + <u64>(sLo < pLo);
  } else {
    sLo = pLo - cLo;
    sHi = pHi - cHi - <u64>(pLo < cLo);
  }
  if ((sHi | sLo) == 0) return rm == RDN ? F64_SIGN : 0;
  // Leading one to bit 126, then fold the low half into the sticky bit.
  const lz = sHi != 0 ? <i32>clz(sHi) : 64 + <i32>clz(sLo);
  shl128(sHi, sLo, lz - 1);
  return roundPack64(sign, pExp + 2 - lz, wideHi | <u64>(wideLo != 0), rm);
}

@inline function less64(a: u64, b: u64): bool {
  const sa = a >> 63;
  if (sa != b >> 63) return sa != 0;
  return a != b && (a < b) != (sa != 0);
}

export function f64_min(a: u64, b: u64): u64 {
  const an = isNaN64(a);
  const bn = isNaN64(b);
  if (an || bn) {
    if (isSNaN64(a) || isSNaN64(b)) fflags |= NV;
    return an && bn ? F64_QNAN : an ? b : a;
  }
  return less64(a, b) ? a : b;
}
export function f64_max(a: u64, b: u64): u64 {
  const an = isNaN64(a);
  const bn = isNaN64(b);
  if (an || bn) {
    if (isSNaN64(a) || isSNaN64(b)) fflags |= NV;
    return an && bn ? F64_QNAN : an ? b : a;
  }
  return less64(a, b) ? b : a;
}

export function f64_eq(a: u64, b: u64): bool {
  if (isNaN64(a) || isNaN64(b)) {
    if (isSNaN64(a) || isSNaN64(b)) fflags |= NV;
    return false;
  }
  return a == b || ((a | b) << 1) == 0;
}
export function f64_lt(a: u64, b: u64): bool {
  if (isNaN64(a) || isNaN64(b)) {
    fflags |= NV;
    return false;
  }
  return ((a | b) << 1) != 0 && less64(a, b);
}
export function f64_le(a: u64, b: u64): bool {
  if (isNaN64(a) || isNaN64(b)) {
    fflags |= NV;
    return false;
  }
  return ((a | b) << 1) == 0 || a == b || less64(a, b);
}

export function f64_classify(a: u64): u32 {
  const negative = (a >> 63) != 0;
  const e = <u32>(a >> 52) & 0x7ff;
  const f = a & F64_FRAC;
  if (e == 0x7ff) {
    if (f == 0) return negative ? 1 << 0 : 1 << 7;
    return (f & 0x0008_0000_0000_0000) != 0 ? 1 << 9 : 1 << 8;
  }
  if (e == 0) {
    if (f == 0) return negative ? 1 << 3 : 1 << 4;
    return negative ? 1 << 2 : 1 << 5;
  }
  return negative ? 1 << 1 : 1 << 6;
}

// =============================================================================================
// Conversions between the formats

/** FCVT.D.S is exact; only a NaN needs care (canonical, NV if signalling). */
export function f32_to_f64(a: u32): u64 {
  if (isNaN32(a)) {
    if (isSNaN32(a)) fflags |= NV;
    return F64_QNAN;
  }
  return reinterpret<u64>(<f64>reinterpret<f32>(a));
}

export function f64_to_f32_soft(a: u64, rm: u32): u32 {
  const e = <u32>(a >> 52) & 0x7ff;
  const sign = <u32>(a >> 63);
  if (e == 0x7ff) {
    if (isNaN64(a)) {
      if (isSNaN64(a)) fflags |= NV;
      return F32_QNAN;
    }
    return (sign << 31) | F32_INF;
  }
  if ((a << 1) == 0) return sign << 31;
  unpack64(a);
  // Leading one to bit 62; rebias 1023 → 127.
  return roundPack32(sign, unpackExp - 896, unpackSig << 10, rm);
}

export function f64_to_f32(a: u64, rm: u32): u32 {
  if (rm == RNE) {
    const x = reinterpret<f64>(a);
    const r = <f32>x;
    const rb = reinterpret<u32>(r);
    const ex = rb & F32_INF;
    if (ex > 0x0080_0000 && ex != F32_INF) {
      if (<f64>r != x) fflags |= NX;
      return rb;
    }
  }
  return f64_to_f32_soft(a, rm);
}

// =============================================================================================
// Floating point to integer (§11.7 table 11.4): out-of-range and NaN saturate and raise NV only;
// an in-range inexact conversion raises NX. NaN converts to the largest positive value.

const TO_I32: i32 = 0;
const TO_U32: i32 = 1;
const TO_I64: i32 = 2;
const TO_U64: i32 = 3;

@inline function saturate(kind: i32, negative: bool): u64 {
  if (kind == TO_I32) return negative ? 0x8000_0000 : 0x7fff_ffff;
  if (kind == TO_U32) return negative ? 0 : 0xffff_ffff;
  if (kind == TO_I64) return negative ? BIT63 : BIT63 - 1;
  return negative ? 0 : 0xffff_ffff_ffff_ffff;
}

/** Convert ±sig · 2^(e − 63) (sig with its leading one at bit 63) to an integer of the given kind. */
function toInt(negative: bool, e: i32, sig: u64, rm: u32, kind: i32): u64 {
  if (e >= 64) {
    fflags |= NV;
    return saturate(kind, negative);
  }
  let int: u64;
  let frac: u64; // the discarded fraction, binary point above bit 63
  if (e >= 63) {
    int = sig;
    frac = 0;
  } else if (e >= 0) {
    int = sig >> <u64>(63 - e);
    frac = sig << <u64>(e + 1);
  } else {
    int = 0;
    frac = jam64(sig, -1 - e);
  }
  let up = false;
  if (rm == RNE) up = frac > BIT63 || (frac == BIT63 && (int & 1) != 0);
  else if (rm == RDN) up = negative && frac != 0;
  else if (rm == RUP) up = !negative && frac != 0;
  else if (rm == RMM) up = frac >= BIT63;
  if (up) int++; // no wrap: a nonzero fraction means int < 2^53
  let limit: u64;
  if (kind == TO_I32) limit = negative ? 0x8000_0000 : 0x7fff_ffff;
  else if (kind == TO_U32) limit = negative ? 0 : 0xffff_ffff;
  else if (kind == TO_I64) limit = negative ? BIT63 : BIT63 - 1;
  else limit = negative ? 0 : 0xffff_ffff_ffff_ffff;
  if (int > limit) {
    fflags |= NV;
    return saturate(kind, negative);
  }
  if (frac != 0) fflags |= NX;
  return negative ? 0 - int : int;
}

function f32ToInt(a: u32, rm: u32, kind: i32): u64 {
  const e = (a >> 23) & 0xff;
  const negative = (a >> 31) != 0;
  if (e == 0xff) {
    fflags |= NV;
    return saturate(kind, negative && (a & F32_FRAC) == 0); // NaN → largest positive
  }
  if ((a << 1) == 0) return 0;
  unpack32(a);
  return toInt(negative, unpackExp - 127, unpackSig << 40, rm, kind);
}

function f64ToInt(a: u64, rm: u32, kind: i32): u64 {
  const e = <u32>(a >> 52) & 0x7ff;
  const negative = (a >> 63) != 0;
  if (e == 0x7ff) {
    fflags |= NV;
    return saturate(kind, negative && (a & F64_FRAC) == 0);
  }
  if ((a << 1) == 0) return 0;
  unpack64(a);
  return toInt(negative, unpackExp - 1023, unpackSig << 11, rm, kind);
}

/** Round to an integral value in the host: exact, for every mode but RMM. */
@inline function roundIntegral(x: f64, rm: u32): f64 {
  if (rm == RTZ) return trunc<f64>(x);
  if (rm == RNE) return nearest<f64>(x);
  if (rm == RDN) return floor<f64>(x);
  return ceil<f64>(x);
}

// The fast paths round in the host, then convert only what is in range; NaN fails every comparison
// and so takes the slow path too. t == x decides NX (−0.5 → −0 in RTZ is inexact and in range).
export function f64_to_i32_soft(a: u64, rm: u32): i32 {
  return <i32>f64ToInt(a, rm, TO_I32);
}
export function f64_to_i32(a: u64, rm: u32): i32 {
  if (rm != RMM) {
    const x = reinterpret<f64>(a);
    const t = roundIntegral(x, rm);
    if (t >= -2147483648.0 && t <= 2147483647.0) {
      if (t != x) fflags |= NX;
      return <i32>t;
    }
  }
  return <i32>f64ToInt(a, rm, TO_I32);
}
export function f64_to_u32_soft(a: u64, rm: u32): u32 {
  return <u32>f64ToInt(a, rm, TO_U32);
}
export function f64_to_u32(a: u64, rm: u32): u32 {
  if (rm != RMM) {
    const x = reinterpret<f64>(a);
    const t = roundIntegral(x, rm);
    if (t >= 0.0 && t <= 4294967295.0) {
      if (t != x) fflags |= NX;
      return <u32>t;
    }
  }
  return <u32>f64ToInt(a, rm, TO_U32);
}
export function f64_to_i64_soft(a: u64, rm: u32): i64 {
  return <i64>f64ToInt(a, rm, TO_I64);
}
export function f64_to_i64(a: u64, rm: u32): i64 {
  if (rm != RMM) {
    const x = reinterpret<f64>(a);
    const t = roundIntegral(x, rm);
    if (t >= -9223372036854775808.0 && t < 9223372036854775808.0) {
      if (t != x) fflags |= NX;
      return <i64>t;
    }
  }
  return <i64>f64ToInt(a, rm, TO_I64);
}
export function f64_to_u64_soft(a: u64, rm: u32): u64 {
  return f64ToInt(a, rm, TO_U64);
}
export function f64_to_u64(a: u64, rm: u32): u64 {
  if (rm != RMM) {
    const x = reinterpret<f64>(a);
    const t = roundIntegral(x, rm);
    if (t >= 0.0 && t < 18446744073709551616.0) {
      if (t != x) fflags |= NX;
      return <u64>t;
    }
  }
  return f64ToInt(a, rm, TO_U64);
}

// binary32 sources: every binary32 value is exact as a binary64, so the same fast paths apply.
export function f32_to_i32_soft(a: u32, rm: u32): i32 {
  return <i32>f32ToInt(a, rm, TO_I32);
}
export function f32_to_i32(a: u32, rm: u32): i32 {
  if (rm != RMM) {
    const x = <f64>reinterpret<f32>(a);
    const t = roundIntegral(x, rm);
    if (t >= -2147483648.0 && t <= 2147483647.0) {
      if (t != x) fflags |= NX;
      return <i32>t;
    }
  }
  return <i32>f32ToInt(a, rm, TO_I32);
}
export function f32_to_u32_soft(a: u32, rm: u32): u32 {
  return <u32>f32ToInt(a, rm, TO_U32);
}
export function f32_to_u32(a: u32, rm: u32): u32 {
  if (rm != RMM) {
    const x = <f64>reinterpret<f32>(a);
    const t = roundIntegral(x, rm);
    if (t >= 0.0 && t <= 4294967295.0) {
      if (t != x) fflags |= NX;
      return <u32>t;
    }
  }
  return <u32>f32ToInt(a, rm, TO_U32);
}
export function f32_to_i64_soft(a: u32, rm: u32): i64 {
  return <i64>f32ToInt(a, rm, TO_I64);
}
export function f32_to_i64(a: u32, rm: u32): i64 {
  if (rm != RMM) {
    const x = <f64>reinterpret<f32>(a);
    const t = roundIntegral(x, rm);
    if (t >= -9223372036854775808.0 && t < 9223372036854775808.0) {
      if (t != x) fflags |= NX;
      return <i64>t;
    }
  }
  return <i64>f32ToInt(a, rm, TO_I64);
}
export function f32_to_u64_soft(a: u32, rm: u32): u64 {
  return f32ToInt(a, rm, TO_U64);
}
export function f32_to_u64(a: u32, rm: u32): u64 {
  if (rm != RMM) {
    const x = <f64>reinterpret<f32>(a);
    const t = roundIntegral(x, rm);
    if (t >= 0.0 && t < 18446744073709551616.0) {
      if (t != x) fflags |= NX;
      return <u64>t;
    }
  }
  return f32ToInt(a, rm, TO_U64);
}

// =============================================================================================
// Integer to floating point

/** ±x (x nonzero) to binary32: leading one to bit 62, the rest jammed. */
function uintToF32(sign: u32, x: u64, rm: u32): u32 {
  if (x == 0) return 0;
  const lz = <i32>clz(x);
  const sig = lz == 0 ? (x >> 1) | (x & 1) : x << <u64>(lz - 1);
  return roundPack32(sign, 190 - lz, sig, rm); // 127 + (63 − lz)
}
function uintToF64(sign: u32, x: u64, rm: u32): u64 {
  if (x == 0) return 0;
  const lz = <i32>clz(x);
  const sig = lz == 0 ? (x >> 1) | (x & 1) : x << <u64>(lz - 1);
  return roundPack64(sign, 1086 - lz, sig, rm); // 1023 + (63 − lz)
}

export function i32_to_f32(a: i32, rm: u32): u32 {
  return a < 0 ? uintToF32(1, <u64>(0 - <i64>a), rm) : uintToF32(0, <u64>a, rm);
}
export function u32_to_f32(a: u32, rm: u32): u32 {
  return uintToF32(0, <u64>a, rm);
}
export function i64_to_f32(a: i64, rm: u32): u32 {
  return a < 0 ? uintToF32(1, 0 - <u64>a, rm) : uintToF32(0, <u64>a, rm);
}
export function u64_to_f32(a: u64, rm: u32): u32 {
  return uintToF32(0, a, rm);
}
/** Exact: every 32-bit integer is a binary64. */
export function i32_to_f64(a: i32, rm: u32): u64 {
  return reinterpret<u64>(<f64>a);
}
export function u32_to_f64(a: u32, rm: u32): u64 {
  return reinterpret<u64>(<f64>a);
}
export function i64_to_f64(a: i64, rm: u32): u64 {
  return a < 0 ? uintToF64(1, 0 - <u64>a, rm) : uintToF64(0, <u64>a, rm);
}
export function u64_to_f64(a: u64, rm: u32): u64 {
  return uintToF64(0, a, rm);
}
