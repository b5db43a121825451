/**
 * Just enough of the WebAssembly binary format (core spec 2.0, §5) to build the JIT's modules: one
 * function type, an imported memory, one exported function. Opcodes are named as in the text format.
 */

export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  drop: 0x1a,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  i64_load: 0x29,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i64_store: 0x37,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_gt_u: 0x4b,
  i32_le_u: 0x4d,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
} as const;

export const I32 = 0x7f;
export const I64 = 0x7e;
/** Block type of a structured instruction without results. */
export const VOID = 0x40;

/** A growing byte buffer with the format's encodings. */
export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;

  byte(b: number): this {
    if (this.length === this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.length++] = b;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]!);
    return this;
  }

  /** Unsigned LEB128 (§5.2.2). */
  u32(v: number): this {
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit value. */
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  /** Signed LEB128 of a 64-bit value (a number must be a safe integer: then no BigInt arithmetic is needed). */
  s64(v: bigint | number): this {
    if (typeof v === 'number') {
      for (;;) {
        const b = v & 0x7f;
        v = Math.floor(v / 128);
        if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
        this.byte(b | 0x80);
      }
    }
    v = BigInt.asIntN(64, v);
    if (v >= -0x20_0000_0000_0000n && v < 0x20_0000_0000_0000n) return this.s64(Number(v));
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  name(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    return this.u32(utf8.length).bytes(utf8);
  }

  /** A length-prefixed copy (sections, function bodies). */
  sized(inner: Bytes): this {
    return this.u32(inner.length).bytes(inner.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface FunctionSpec {
  readonly params: readonly number[];
  readonly results: readonly number[];
  /** Local declarations beyond the parameters, in order: [count, type]. */
  readonly locals: readonly (readonly [number, number])[];
  /** The body's instructions, without the final `end`. */
  readonly body: Bytes;
}

/**
 * A module that imports `env.memory` (shared or not, up to 4 GiB) and exports one function as `run`.
 */
export function moduleBytes(fn: FunctionSpec, sharedMemory: boolean): Uint8Array {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, content: Bytes): void => {
    out.byte(id).sized(content);
  };
  const types = new Bytes()
    .u32(1)
    .byte(0x60)
    .u32(fn.params.length)
    .bytes(fn.params)
    .u32(fn.results.length)
    .bytes(fn.results);
  section(1, types);
  // Memory limits flags (§5.3.8, threads proposal): 1 = with maximum, 3 = with maximum and shared.
  const imports = new Bytes()
    .u32(1)
    .name('env')
    .name('memory')
    .byte(0x02)
    .byte(sharedMemory ? 0x03 : 0x01)
    .u32(0)
    .u32(65536);
  section(2, imports);
  section(3, new Bytes().u32(1).u32(0));
  section(7, new Bytes().u32(1).name('run').byte(0x00).u32(0));
  const body = new Bytes().u32(fn.locals.length);
  for (const [count, type] of fn.locals) body.u32(count).byte(type);
  body.bytes(fn.body.view()).byte(Op.end);
  section(10, new Bytes().u32(1).sized(body));
  return out.view().slice();
}
