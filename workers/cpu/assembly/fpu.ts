/**
 * IEEE 754-2008 binary32/binary64 arithmetic exactly as the RISC-V F and D extensions require
 * (unprivileged spec 20191213, ch. 11 "F", ch. 12 "D"): all five rounding modes, the five sticky
 * exception flags, fused multiply-add with one rounding, and RISC-V's NaN rules ("the canonical NaN"
 * for every NaN result, §11.3). Values travel as raw bit patterns; nothing here allocates.
 *
 * Method: softfloat style. Unpack to sign / biased exponent / integer significand, compute exactly
 * (or with the discarded bits jammed into a sticky bit), then round once in roundPack.
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
const F32_QNAN: u32 = 0x7fc0_0000; // "the canonical NaN" (§11.3)

const F64_SIGN: u64 = 0x8000_0000_0000_0000;
const F64_INF: u64 = 0x7ff0_0000_0000_0000;
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
// The two formats. What binary32 and binary64 share is written once, generic over the type T of
// the raw bits: u32 for binary32, u64 for binary64. These give each format's parameters; sizeof<T>()
// is a compile-time constant, so each instance is as specific as a hand-written copy.

/** Fraction bits: 23 or 52. */
@inline function fracBits<T>(): i32 {
  return sizeof<T>() == 4 ? 23 : 52;
}
/** The all-ones biased exponent of ∞ and NaN: 0xff or 0x7ff. */
@inline function expMax<T>(): i32 {
  return sizeof<T>() == 4 ? 0xff : 0x7ff;
}
@inline function bias<T>(): i32 {
  return sizeof<T>() == 4 ? 127 : 1023;
}
@inline export function signBit<T>(): T {
  return (<T>1) << <T>(sizeof<T>() * 8 - 1);
}
@inline function infinity<T>(): T {
  return (<T>expMax<T>()) << <T>fracBits<T>();
}
/** The leading fraction bit, set in a quiet NaN and clear in a signalling one (754 §6.2.1). */
@inline function quietBit<T>(): T {
  return (<T>1) << <T>(fracBits<T>() - 1);
}
/** "The canonical NaN" (§11.3): positive, quiet, no payload. */
@inline function canonicalNaN<T>(): T {
  return infinity<T>() | quietBit<T>();
}
@inline function fracMask<T>(): T {
  return ((<T>1) << <T>fracBits<T>()) - 1;
}
@inline function signOf<T>(a: T): u32 {
  return <u32>(a >> <T>(sizeof<T>() * 8 - 1));
}
@inline function biasedExp<T>(a: T): i32 {
  return <i32>(a >> <T>fracBits<T>()) & expMax<T>();
}
/** Whether a is ±0. */
@inline function isZero<T>(a: T): bool {
  return a << <T>1 == 0;
}
/** Whether a is ±∞. */
@inline function isInf<T>(a: T): bool {
  return a << <T>1 == infinity<T>() << <T>1;
}

// ---------------------------------------------------------------------------------------------
// Rounding. roundPack takes a significand with its leading one at bit 62 (bit 63 free for the
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

/**
 * Round ±sig · 2^(e − bias) (leading one of sig at bit 62, bit 63 free for the rounding carry, the
 * bits below the last fraction bit jammed) to the format and pack it, raising NX, UF and OF.
 */
function roundPack<T>(sign: u32, e: i32, sig: u64, rm: u32): T {
  const DISCARD = <u64>(62 - fracBits<T>()); // 39 or 10 bits below the fraction
  const MASK: u64 = ((<u64>1) << DISCARD) - 1;
  const HALF: u64 = (<u64>1) << (DISCARD - 1);
  const inc = roundIncrement(rm, sign, MASK);
  const s = (<u64>sign) << <u64>(sizeof<T>() * 8 - 1);
  if (e <= 0) {
    // Tiny unless e == 0 and rounding to the format's precision (unbounded exponent) carries up to
    // the smallest normal.
    const tiny = e < 0 || sig + inc < BIT63;
    sig = jam64(sig, 1 - e);
    const rest = sig & MASK;
    if (rest != 0) fflags |= tiny ? UF | NX : NX;
    sig = (sig + inc) >> DISCARD;
    if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
    // A carry into the hidden bit makes the smallest normal, which the exponent field 1 encodes.
    return <T>(s | sig);
  }
  if (e >= expMax<T>() - 1 && (e > expMax<T>() - 1 || sig + inc >= BIT63)) {
    fflags |= OF | NX;
    return <T>s | (overflowGivesMax(rm, sign) ? infinity<T>() - 1 : infinity<T>());
  }
  const rest = sig & MASK;
  if (rest != 0) fflags |= NX;
  sig = (sig + inc) >> DISCARD;
  if (rm == RNE && rest == HALF) sig &= ~(<u64>1);
  // sig includes the hidden bit, which adds one to the exponent field; a carry past it adds two.
  return <T>(s | (((<u64>(e - 1)) << <u64>fracBits<T>()) + sig));
}

// ---------------------------------------------------------------------------------------------
// Classification helpers.

@inline function isAnyNaN<T>(a: T): bool {
  return (a & ~signBit<T>()) > infinity<T>();
}
@inline function isSignalingNaN<T>(a: T): bool {
  return (a & (infinity<T>() | quietBit<T>())) == infinity<T>() && (a & (quietBit<T>() - 1)) != 0;
}

/** NaN result of an operation with a NaN operand: canonical, NV if any operand signals (§11.3). */
function nanResult<T>(a: T, b: T): T {
  if (isSignalingNaN<T>(a) || isSignalingNaN<T>(b)) fflags |= NV;
  return canonicalNaN<T>();
}

/** The exact zero sum of two zeros: "x + x = x − (−x) retains the same sign as x" and a zero sum of
 *  opposite signs is +0, or −0 when rounding down (754 §6.3). */
@inline function zeroSum<T>(a: T, b: T, rm: u32): T {
  return a == b ? a : rm == RDN ? signBit<T>() : 0;
}

// Unpacked normalized significands and exponents of finite nonzero operands.
let unpackSig: u64 = 0;
let unpackExp: i32 = 0;

/** Significand of a finite nonzero value with the hidden bit at bit fracBits (subnormals normalized,
 *  their exponent then below 1) into unpackSig / unpackExp. */
@inline function unpack<T>(a: T): void {
  const e = biasedExp<T>(a);
  const f = a & fracMask<T>();
  if (e == 0) {
    const sh = <i32>clz<T>(f) - (sizeof<T>() * 8 - 1 - fracBits<T>());
    unpackSig = <u64>(f << <T>sh);
    unpackExp = 1 - sh;
  } else {
    unpackSig = <u64>(f | (fracMask<T>() + 1));
    unpackExp = e;
  }
}

// =============================================================================================
// Arithmetic shared by both formats: addition, and the rules for special operands (NaN, ∞, zero) of
// the other operations. Their finite cores differ by format (binary64 needs 128-bit intermediates)
// and follow in the binary32 and binary64 sections.

function addSoft<T>(a: T, b: T, rm: u32): T {
  let ea = biasedExp<T>(a);
  let eb = biasedExp<T>(b);
  const sa = signOf<T>(a);
  const sb = signOf<T>(b);
  if (ea == expMax<T>() || eb == expMax<T>()) {
    if (isAnyNaN<T>(a) || isAnyNaN<T>(b)) return nanResult<T>(a, b);
    if (ea == eb && sa != sb) {
      fflags |= NV; // ∞ − ∞
      return canonicalNaN<T>();
    }
    return ea == expMax<T>() ? a : b;
  }
  if (isZero<T>(a)) return isZero<T>(b) ? zeroSum<T>(a, b, rm) : b;
  if (isZero<T>(b)) return a;
  // Hidden bit at 61, leaving bit 62 for the carry of an addition; 38 (binary32) or 9 (binary64)
  // guard bits below.
  let ma = <u64>(a & fracMask<T>());
  let mb = <u64>(b & fracMask<T>());
  if (ea == 0) ea = 1;
  else ma |= <u64>fracMask<T>() + 1;
  if (eb == 0) eb = 1;
  else mb |= <u64>fracMask<T>() + 1;
  ma <<= <u64>(61 - fracBits<T>());
  mb <<= <u64>(61 - fracBits<T>());
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
  if (sum == 0) return rm == RDN ? signBit<T>() : 0;
  const shift = <i32>clz(sum) - 1;
  return roundPack<T>(sign, ea + 1 - shift, sum << <u64>shift, rm);
}

/** a + b for the format with raw bits T and host type F (f32 or f64). */
@inline function addFast<T, F>(a: T, b: T, rm: u32): T {
  if (rm == RNE) {
    const x = reinterpret<F>(a);
    const y = reinterpret<F>(b);
    const r = x + y;
    const rb = reinterpret<T>(r);
    // Finite and below 2^(emax): no overflow anywhere, and the host's sum is the RNE result (sums
    // that land in the subnormal range are exact, so they never underflow). Knuth's TwoSum then
    // gives the exact rounding error.
    const top = infinity<T>() ^ ((<T>1) << <T>fracBits<T>()); // all exponent bits but the lowest
    if ((rb & top) != top) {
      const bb = r - x;
      const err = (x - (r - bb)) + (y - bb);
      if (err != 0) fflags |= NX;
      return rb;
    }
  }
  return addSoft<T>(a, b, rm);
}

/** Set by the *Special functions when their result is the answer: an operand was NaN, ∞ or zero. */
let special: bool = false;

/** a × b when an operand is NaN, ∞ or zero. */
function mulSpecial<T>(a: T, b: T): T {
  special = true;
  const sign = signBit<T>() & (a ^ b);
  if (biasedExp<T>(a) == expMax<T>() || biasedExp<T>(b) == expMax<T>()) {
    if (isAnyNaN<T>(a) || isAnyNaN<T>(b)) return nanResult<T>(a, b);
    if (isZero<T>(a) || isZero<T>(b)) {
      fflags |= NV; // ∞ × 0
      return canonicalNaN<T>();
    }
    return sign | infinity<T>();
  }
  if (isZero<T>(a) || isZero<T>(b)) return sign;
  special = false;
  return 0;
}

/** a / b when an operand is NaN, ∞ or zero. */
function divSpecial<T>(a: T, b: T): T {
  special = true;
  const sign = signBit<T>() & (a ^ b);
  if (biasedExp<T>(a) == expMax<T>()) {
    if (isAnyNaN<T>(a) || isAnyNaN<T>(b)) return nanResult<T>(a, b);
    if (biasedExp<T>(b) == expMax<T>()) {
      fflags |= NV; // ∞ / ∞
      return canonicalNaN<T>();
    }
    return sign | infinity<T>();
  }
  if (biasedExp<T>(b) == expMax<T>()) {
    if (isAnyNaN<T>(b)) return nanResult<T>(a, b);
    return sign; // finite / ∞
  }
  if (isZero<T>(b)) {
    if (isZero<T>(a)) {
      fflags |= NV; // 0 / 0
      return canonicalNaN<T>();
    }
    fflags |= DZ;
    return sign | infinity<T>();
  }
  if (isZero<T>(a)) return sign;
  special = false;
  return 0;
}

/** sqrt(a) when a is NaN, zero, negative or +∞. */
function sqrtSpecial<T>(a: T): T {
  special = true;
  if (isAnyNaN<T>(a)) return nanResult<T>(a, a);
  if (isZero<T>(a)) return a; // sqrt(±0) = ±0
  if (signOf<T>(a) != 0) {
    fflags |= NV; // negative, including −∞
    return canonicalNaN<T>();
  }
  if (a == infinity<T>()) return a;
  special = false;
  return 0;
}

/** a·b + c when an operand is NaN, ∞ or zero (then c is the result when a·b is zero). */
function fmaSpecial<T>(a: T, b: T, c: T, rm: u32): T {
  special = true;
  // "The fused multiply-add instructions must set the invalid operation exception flag when the
  // multiplicands are ∞ and zero, even when the addend is a quiet NaN" (§11.6).
  if ((isInf<T>(a) && isZero<T>(b)) || (isZero<T>(a) && isInf<T>(b))) {
    fflags |= NV;
    return canonicalNaN<T>();
  }
  if (isAnyNaN<T>(a) || isAnyNaN<T>(b) || isAnyNaN<T>(c)) {
    if (isSignalingNaN<T>(a) || isSignalingNaN<T>(b) || isSignalingNaN<T>(c)) fflags |= NV;
    return canonicalNaN<T>();
  }
  const productSign = signBit<T>() & (a ^ b);
  if (isInf<T>(a) || isInf<T>(b)) {
    if (isInf<T>(c) && (c & signBit<T>()) != productSign) {
      fflags |= NV; // ∞ − ∞
      return canonicalNaN<T>();
    }
    return productSign | infinity<T>();
  }
  if (isInf<T>(c)) return c;
  if (isZero<T>(a) || isZero<T>(b)) return isZero<T>(c) ? zeroSum<T>(productSign, c, rm) : c;
  special = false;
  return 0;
}

// =============================================================================================
// binary32

export function f32_add_soft(a: u32, b: u32, rm: u32): u32 {
  return addSoft<u32>(a, b, rm);
}

export function f32_add(a: u32, b: u32, rm: u32): u32 {
  return addFast<u32, f32>(a, b, rm);
}

// Flipping a NaN's sign changes nothing: NaN results are canonical.
export function f32_sub_soft(a: u32, b: u32, rm: u32): u32 {
  return addSoft<u32>(a, b ^ F32_SIGN, rm);
}
export function f32_sub(a: u32, b: u32, rm: u32): u32 {
  return addFast<u32, f32>(a, b ^ F32_SIGN, rm);
}

export function f32_mul_soft(a: u32, b: u32, rm: u32): u32 {
  const r = mulSpecial<u32>(a, b);
  if (special) return r;
  const sign = (a ^ b) >> 31;
  unpack<u32>(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack<u32>(b);
  const p = ma * unpackSig; // exact, in [2^46, 2^48)
  let e = xa + unpackExp - 126;
  let sig = p << 15;
  if (sig < BIT62) {
    sig <<= 1;
    e--;
  }
  return roundPack<u32>(sign, e, sig, rm);
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
  const r = divSpecial<u32>(a, b);
  if (special) return r;
  const sign = (a ^ b) >> 31;
  unpack<u32>(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack<u32>(b);
  const mb = unpackSig;
  const num = ma << 39;
  const q = num / mb; // in (2^38, 2^40): at least 39 quotient bits
  const rem = num - q * mb;
  const shift = <i32>clz(q) - 1;
  const sig = (q << <u64>shift) | <u64>(rem != 0);
  return roundPack<u32>(sign, xa - unpackExp + 150 - shift, sig, rm);
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
  const r = sqrtSpecial<u32>(a);
  if (special) return r;
  unpack<u32>(a);
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
  return roundPack<u32>(0, 127 + lead + (k >> 1), sig, rm);
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
  const r = fmaSpecial<u32>(a, b, c, rm);
  if (special) return r;
  const ps = (a ^ b) >> 31;
  const sc = c >> 31;
  const cZero = isZero<u32>(c);

  unpack<u32>(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack<u32>(b);
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
  if (cZero) return roundPack<u32>(ps, pExp, pSig << 1, rm); // a·b + 0 is a·b, rounded once
  unpack<u32>(c);
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
  return roundPack<u32>(sign, pExp + 1 - shift, sum << <u64>shift, rm);
}


// =============================================================================================
// binary64

export function f64_add_soft(a: u64, b: u64, rm: u32): u64 {
  return addSoft<u64>(a, b, rm);
}

export function f64_add(a: u64, b: u64, rm: u32): u64 {
  return addFast<u64, f64>(a, b, rm);
}

export function f64_sub_soft(a: u64, b: u64, rm: u32): u64 {
  return addSoft<u64>(a, b ^ F64_SIGN, rm);
}
export function f64_sub(a: u64, b: u64, rm: u32): u64 {
  return addFast<u64, f64>(a, b ^ F64_SIGN, rm);
}

export function f64_mul_soft(a: u64, b: u64, rm: u32): u64 {
  const r = mulSpecial<u64>(a, b);
  if (special) return r;
  const sign = <u32>((a ^ b) >> 63);
  unpack<u64>(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack<u64>(b);
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
  return roundPack<u64>(sign, e, sig, rm);
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
  const r = divSpecial<u64>(a, b);
  if (special) return r;
  const sign = <u32>((a ^ b) >> 63);
  unpack<u64>(a);
  let ma = unpackSig;
  const xa = unpackExp;
  unpack<u64>(b);
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
  return roundPack<u64>(sign, e, (q << 7) | <u64>(rem != 0), rm);
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
  const r = sqrtSpecial<u64>(a);
  if (special) return r;
  unpack<u64>(a);
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
  return roundPack<u64>(0, 1023 + lead + (k >> 1), sig, rm);
}

export function f64_sqrt(a: u64, rm: u32): u64 {
  if (a - 1 < F64_INF - 1) {
    // Positive, finite, nonzero: as in f32_sqrt, the host's root and the exact sign of r² − a.
    const r = Math.sqrt(reinterpret<f64>(a));
    let rb = reinterpret<u64>(r);
    unpack<u64>(a);
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
  const r = fmaSpecial<u64>(a, b, c, rm);
  if (special) return r;
  const ps = <u32>((a ^ b) >> 63);
  const sc = <u32>(c >> 63);
  const cZero = isZero<u64>(c);

  unpack<u64>(a);
  const ma = unpackSig;
  const xa = unpackExp;
  unpack<u64>(b);
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
  if (cZero) return roundPack<u64>(ps, pExp, (pHi << 1) | (pLo >> 63) | <u64>((pLo << 1) != 0), rm);
  unpack<u64>(c);
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
  return roundPack<u64>(sign, pExp + 2 - lz, wideHi | <u64>(wideLo != 0), rm);
}

// =============================================================================================
// Comparisons, minimum/maximum and classification (both formats)

/** Total order of non-NaN values with −0 < +0, as minimumNumber/maximumNumber need. */
@inline function less<T>(a: T, b: T): bool {
  const sa = signOf<T>(a);
  if (sa != signOf<T>(b)) return sa != 0;
  return a != b && (a < b) != (sa != 0);
}

// fmin/fmax are 754-2019 minimumNumber/maximumNumber (§11.6, F 2.2): a single NaN operand yields
// the other operand, two give the canonical NaN, and any signalling NaN raises NV.
function minMax<T>(a: T, b: T, max: bool): T {
  const an = isAnyNaN<T>(a);
  const bn = isAnyNaN<T>(b);
  if (an || bn) {
    if (isSignalingNaN<T>(a) || isSignalingNaN<T>(b)) fflags |= NV;
    return an && bn ? canonicalNaN<T>() : an ? b : a;
  }
  return less<T>(a, b) != max ? a : b;
}

/** FEQ is a quiet comparison: NV only for a signalling NaN operand (§11.8). */
function equal<T>(a: T, b: T): bool {
  if (isAnyNaN<T>(a) || isAnyNaN<T>(b)) {
    if (isSignalingNaN<T>(a) || isSignalingNaN<T>(b)) fflags |= NV;
    return false;
  }
  return a == b || isZero<T>(a | b);
}
/** FLT and FLE are signalling comparisons: NV for any NaN operand (§11.8). */
function lessThan<T>(a: T, b: T, orEqual: bool): bool {
  if (isAnyNaN<T>(a) || isAnyNaN<T>(b)) {
    fflags |= NV;
    return false;
  }
  if (isZero<T>(a | b)) return orEqual;
  return (orEqual && a == b) || less<T>(a, b);
}

/** FCLASS: one bit of ten (§11.9, table 11.5). */
function classify<T>(a: T): u32 {
  const negative = signOf<T>(a) != 0;
  const e = biasedExp<T>(a);
  const f = a & fracMask<T>();
  if (e == expMax<T>()) {
    if (f == 0) return negative ? 1 << 0 : 1 << 7;
    return (f & quietBit<T>()) != 0 ? 1 << 9 : 1 << 8;
  }
  if (e == 0) {
    if (f == 0) return negative ? 1 << 3 : 1 << 4;
    return negative ? 1 << 2 : 1 << 5;
  }
  return negative ? 1 << 1 : 1 << 6;
}

export function f32_min(a: u32, b: u32): u32 {
  return minMax<u32>(a, b, false);
}
export function f32_max(a: u32, b: u32): u32 {
  return minMax<u32>(a, b, true);
}
export function f32_eq(a: u32, b: u32): bool {
  return equal<u32>(a, b);
}
export function f32_lt(a: u32, b: u32): bool {
  return lessThan<u32>(a, b, false);
}
export function f32_le(a: u32, b: u32): bool {
  return lessThan<u32>(a, b, true);
}
export function f32_classify(a: u32): u32 {
  return classify<u32>(a);
}
export function f64_min(a: u64, b: u64): u64 {
  return minMax<u64>(a, b, false);
}
export function f64_max(a: u64, b: u64): u64 {
  return minMax<u64>(a, b, true);
}
export function f64_eq(a: u64, b: u64): bool {
  return equal<u64>(a, b);
}
export function f64_lt(a: u64, b: u64): bool {
  return lessThan<u64>(a, b, false);
}
export function f64_le(a: u64, b: u64): bool {
  return lessThan<u64>(a, b, true);
}
export function f64_classify(a: u64): u32 {
  return classify<u64>(a);
}


// =============================================================================================
// Conversions between the formats

/** FCVT.D.S is exact; only a NaN needs care (canonical, NV if signalling). */
export function f32_to_f64(a: u32): u64 {
  if (isAnyNaN<u32>(a)) {
    if (isSignalingNaN<u32>(a)) fflags |= NV;
    return F64_QNAN;
  }
  return reinterpret<u64>(<f64>reinterpret<f32>(a));
}

export function f64_to_f32_soft(a: u64, rm: u32): u32 {
  const e = <u32>(a >> 52) & 0x7ff;
  const sign = <u32>(a >> 63);
  if (e == 0x7ff) {
    if (isAnyNaN<u64>(a)) {
      if (isSignalingNaN<u64>(a)) fflags |= NV;
      return F32_QNAN;
    }
    return (sign << 31) | F32_INF;
  }
  if ((a << 1) == 0) return sign << 31;
  unpack<u64>(a);
  // Leading one to bit 62; rebias 1023 → 127.
  return roundPack<u32>(sign, unpackExp - 896, unpackSig << 10, rm);
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

/** FCVT.{W,WU,L,LU}.{S,D} without the host's help. */
function toIntSoft<T>(a: T, rm: u32, kind: i32): u64 {
  const negative = signOf<T>(a) != 0;
  if (biasedExp<T>(a) == expMax<T>()) {
    fflags |= NV;
    return saturate(kind, negative && (a & fracMask<T>()) == 0); // NaN → largest positive
  }
  if (isZero<T>(a)) return 0;
  unpack<T>(a);
  return toInt(negative, unpackExp - bias<T>(), unpackSig << <u64>(63 - fracBits<T>()), rm, kind);
}

/** Round to an integral value in the host: exact, for every mode but RMM. */
@inline function roundIntegral(x: f64, rm: u32): f64 {
  if (rm == RTZ) return trunc<f64>(x);
  if (rm == RNE) return nearest<f64>(x);
  if (rm == RDN) return floor<f64>(x);
  return ceil<f64>(x);
}

/** The value of a binary32 or binary64 as a host double (exact either way). */
@inline function hostValue<T>(a: T): f64 {
  return sizeof<T>() == 4 ? <f64>reinterpret<f32>(<u32>a) : reinterpret<f64>(<u64>a);
}

// The fast path rounds in the host, then converts only what is in range; NaN fails every comparison
// and so takes the slow path too. t == x decides NX (−0.5 → −0 in RTZ is inexact and in range).
@inline function toIntFast<T>(a: T, rm: u32, kind: i32): u64 {
  if (rm != RMM) {
    const x = hostValue<T>(a);
    const t = roundIntegral(x, rm);
    let inRange: bool;
    if (kind == TO_I32) inRange = t >= -2147483648.0 && t <= 2147483647.0;
    else if (kind == TO_U32) inRange = t >= 0.0 && t <= 4294967295.0;
    else if (kind == TO_I64) inRange = t >= -9223372036854775808.0 && t < 9223372036854775808.0;
    else inRange = t >= 0.0 && t < 18446744073709551616.0;
    if (inRange) {
      if (t != x) fflags |= NX;
      if (kind == TO_I32) return <u64>(<i32>t);
      if (kind == TO_U32) return <u64>(<u32>t);
      if (kind == TO_I64) return <u64>(<i64>t);
      return <u64>t;
    }
  }
  return toIntSoft<T>(a, rm, kind);
}

export function f32_to_i32_soft(a: u32, rm: u32): i32 {
  return <i32>toIntSoft<u32>(a, rm, TO_I32);
}
export function f32_to_i32(a: u32, rm: u32): i32 {
  return <i32>toIntFast<u32>(a, rm, TO_I32);
}
export function f32_to_u32_soft(a: u32, rm: u32): u32 {
  return <u32>toIntSoft<u32>(a, rm, TO_U32);
}
export function f32_to_u32(a: u32, rm: u32): u32 {
  return <u32>toIntFast<u32>(a, rm, TO_U32);
}
export function f32_to_i64_soft(a: u32, rm: u32): i64 {
  return <i64>toIntSoft<u32>(a, rm, TO_I64);
}
export function f32_to_i64(a: u32, rm: u32): i64 {
  return <i64>toIntFast<u32>(a, rm, TO_I64);
}
export function f32_to_u64_soft(a: u32, rm: u32): u64 {
  return toIntSoft<u32>(a, rm, TO_U64);
}
export function f32_to_u64(a: u32, rm: u32): u64 {
  return toIntFast<u32>(a, rm, TO_U64);
}
export function f64_to_i32_soft(a: u64, rm: u32): i32 {
  return <i32>toIntSoft<u64>(a, rm, TO_I32);
}
export function f64_to_i32(a: u64, rm: u32): i32 {
  return <i32>toIntFast<u64>(a, rm, TO_I32);
}
export function f64_to_u32_soft(a: u64, rm: u32): u32 {
  return <u32>toIntSoft<u64>(a, rm, TO_U32);
}
export function f64_to_u32(a: u64, rm: u32): u32 {
  return <u32>toIntFast<u64>(a, rm, TO_U32);
}
export function f64_to_i64_soft(a: u64, rm: u32): i64 {
  return <i64>toIntSoft<u64>(a, rm, TO_I64);
}
export function f64_to_i64(a: u64, rm: u32): i64 {
  return <i64>toIntFast<u64>(a, rm, TO_I64);
}
export function f64_to_u64_soft(a: u64, rm: u32): u64 {
  return toIntSoft<u64>(a, rm, TO_U64);
}
export function f64_to_u64(a: u64, rm: u32): u64 {
  return toIntFast<u64>(a, rm, TO_U64);
}

// =============================================================================================
// Integer to floating point

/** ±x to the format: leading one to bit 62, the rest jammed. */
function uintToFloat<T>(sign: u32, x: u64, rm: u32): T {
  if (x == 0) return 0;
  const lz = <i32>clz(x);
  const sig = lz == 0 ? (x >> 1) | (x & 1) : x << <u64>(lz - 1);
  return roundPack<T>(sign, bias<T>() + 63 - lz, sig, rm);
}

export function i32_to_f32(a: i32, rm: u32): u32 {
  return fromInteger<u32>(<u64>a, rm, 0);
}
export function u32_to_f32(a: u32, rm: u32): u32 {
  return fromInteger<u32>(<u64>a, rm, 1);
}
export function i64_to_f32(a: i64, rm: u32): u32 {
  return fromInteger<u32>(<u64>a, rm, 2);
}
export function u64_to_f32(a: u64, rm: u32): u32 {
  return fromInteger<u32>(a, rm, 3);
}
export function i32_to_f64(a: i32, rm: u32): u64 {
  return fromInteger<u64>(<u64>a, rm, 0);
}
export function u32_to_f64(a: u32, rm: u32): u64 {
  return fromInteger<u64>(<u64>a, rm, 1);
}
export function i64_to_f64(a: i64, rm: u32): u64 {
  return fromInteger<u64>(<u64>a, rm, 2);
}
export function u64_to_f64(a: u64, rm: u32): u64 {
  return fromInteger<u64>(a, rm, 3);
}

// =============================================================================================
// Entry points by format, for the decoder (fp.ts): T = u32 calls the binary32 function, T = u64 the
// binary64 one, chosen at compile time.

@inline export function add<T>(a: T, b: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_add(<u32>a, <u32>b, rm) : <T>f64_add(<u64>a, <u64>b, rm);
}
@inline export function sub<T>(a: T, b: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_sub(<u32>a, <u32>b, rm) : <T>f64_sub(<u64>a, <u64>b, rm);
}
@inline export function mul<T>(a: T, b: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_mul(<u32>a, <u32>b, rm) : <T>f64_mul(<u64>a, <u64>b, rm);
}
@inline export function div<T>(a: T, b: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_div(<u32>a, <u32>b, rm) : <T>f64_div(<u64>a, <u64>b, rm);
}
@inline export function sqrt<T>(a: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_sqrt(<u32>a, rm) : <T>f64_sqrt(<u64>a, rm);
}
@inline export function fma<T>(a: T, b: T, c: T, rm: u32): T {
  return sizeof<T>() == 4 ? <T>f32_fma(<u32>a, <u32>b, <u32>c, rm) : <T>f64_fma(<u64>a, <u64>b, <u64>c, rm);
}
@inline export function min<T>(a: T, b: T): T {
  return minMax<T>(a, b, false);
}
@inline export function max<T>(a: T, b: T): T {
  return minMax<T>(a, b, true);
}
@inline export function eq<T>(a: T, b: T): bool {
  return equal<T>(a, b);
}
@inline export function lt<T>(a: T, b: T): bool {
  return lessThan<T>(a, b, false);
}
@inline export function le<T>(a: T, b: T): bool {
  return lessThan<T>(a, b, true);
}
@inline export function fclass<T>(a: T): u32 {
  return classify<T>(a);
}
/** FCVT.W/WU/L/LU: rs2 = 0..3 selects i32, u32, i64, u64; a 32-bit result is sign-extended (RV64). */
@inline export function toInteger<T>(a: T, rm: u32, rs2: u32): u64 {
  if (rs2 == 0) return <u64>(<i32>toIntFast<T>(a, rm, TO_I32));
  // "FCVT.WU.S ... sign-extends" its 32-bit result on RV64.
  if (rs2 == 1) return <u64>(<i32>toIntFast<T>(a, rm, TO_U32));
  return toIntFast<T>(a, rm, rs2 == 2 ? TO_I64 : TO_U64);
}
/** FCVT.S/D.W/WU/L/LU: rs2 = 0..3 selects the source i32, u32, i64, u64. */
@inline export function fromInteger<T>(x: u64, rm: u32, rs2: u32): T {
  if (sizeof<T>() == 8 && rs2 < 2) {
    // Exact: every 32-bit integer is a binary64.
    return <T>reinterpret<u64>(rs2 == 0 ? <f64>(<i32>x) : <f64>(<u32>x));
  }
  if (rs2 == 0) return (<i32>x) < 0 ? uintToFloat<T>(1, <u64>(0 - <i64>(<i32>x)), rm) : uintToFloat<T>(0, <u64>(<u32>x), rm);
  if (rs2 == 1) return uintToFloat<T>(0, <u64>(<u32>x), rm);
  if (rs2 == 2) return <i64>x < 0 ? uintToFloat<T>(1, 0 - x, rm) : uintToFloat<T>(0, x, rm);
  return uintToFloat<T>(0, x, rm);
}
