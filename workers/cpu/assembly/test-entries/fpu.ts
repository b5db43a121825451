// Test entry for workers/cpu/fpu.test.ts: the F/D arithmetic alone, in its own wasm module.
import * as fpu from '../fpu';

export {
  f32_add,
  f32_sub,
  f32_mul,
  f32_div,
  f32_sqrt,
  f32_fma,
  f32_min,
  f32_max,
  f32_eq,
  f32_lt,
  f32_le,
  f32_classify,
  f32_to_i32,
  f32_to_u32,
  f32_to_i64,
  f32_to_u64,
  i32_to_f32,
  u32_to_f32,
  i64_to_f32,
  u64_to_f32,
  f64_add,
  f64_sub,
  f64_mul,
  f64_div,
  f64_sqrt,
  f64_fma,
  f64_min,
  f64_max,
  f64_eq,
  f64_lt,
  f64_le,
  f64_classify,
  f64_to_i32,
  f64_to_u32,
  f64_to_i64,
  f64_to_u64,
  i32_to_f64,
  u32_to_f64,
  i64_to_f64,
  u64_to_f64,
  f32_to_f64,
  f64_to_f32,
  // the integer-only paths behind the fast ones, so tests can compare the two
  f32_add_soft,
  f32_sub_soft,
  f32_mul_soft,
  f32_div_soft,
  f32_sqrt_soft,
  f32_fma_soft,
  f64_add_soft,
  f64_sub_soft,
  f64_mul_soft,
  f64_div_soft,
  f64_sqrt_soft,
  f64_to_f32_soft,
  f32_to_i32_soft,
  f32_to_u32_soft,
  f32_to_i64_soft,
  f32_to_u64_soft,
  f64_to_i32_soft,
  f64_to_u32_soft,
  f64_to_i64_soft,
  f64_to_u64_soft,
} from '../fpu';

export function getFflags(): u32 {
  return fpu.fflags;
}
export function setFflags(v: u32): void {
  fpu.fflags = v;
}

/**
 * A tight loop for scripts/fpu-vectors/bench.ts: n operations of one kind whose operands change
 * every step (so nothing is hoisted), results folded into the return value. op: 0 f64_add,
 * 1 f64_mul, 2 f64_div, 3 f64_sqrt, 4 f64_fma, 5 f32_add, 6 f32_mul, 7 f32_fma, 8 f64_to_i32,
 * 9 host f64 add (the floor: what the bare wasm instruction costs in this loop).
 */
export function bench(op: i32, n: i32, rm: u32): u64 {
  const b: u64 = 0x4009_8765_4321_0fed;
  const c: u64 = 0xbff0_0000_0000_0001;
  let acc: u64 = 0;
  for (let i = 0; i < n; i++) {
    const x: u64 = 0x3ff1_2345_6789_0abc + ((<u64>i) & 0xffff) * 0x1_0001;
    const y: u32 = 0x3f91_2345 + ((<u32>i) & 0xffff);
    let r: u64;
    switch (op) {
      case 0:
        r = fpu.f64_add(x, b, rm);
        break;
      case 1:
        r = fpu.f64_mul(x, b, rm);
        break;
      case 2:
        r = fpu.f64_div(x, b, rm);
        break;
      case 3:
        r = fpu.f64_sqrt(x, rm);
        break;
      case 4:
        r = fpu.f64_fma(x, b, c, rm);
        break;
      case 5:
        r = <u64>fpu.f32_add(y, 0x4049_0fdb, rm);
        break;
      case 6:
        r = <u64>fpu.f32_mul(y, 0x4049_0fdb, rm);
        break;
      case 7:
        r = <u64>fpu.f32_fma(y, 0x4049_0fdb, 0xbf80_0001, rm);
        break;
      case 8:
        r = <u64>fpu.f64_to_i32(x + 0x0100_0000_0000_0000, rm); // about 70000
        break;
      default:
        r = reinterpret<u64>(reinterpret<f64>(x) + reinterpret<f64>(b));
    }
    acc ^= r;
  }
  return acc;
}
