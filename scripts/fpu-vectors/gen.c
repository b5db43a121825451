/*
 * Reference vectors for workers/cpu/assembly/fpu.ts, produced by executing the real RISC-V F and D
 * instructions (run it under qemu-riscv64-static: QEMU's softfloat is the oracle). Every instruction
 * is issued with an explicit static rounding mode; fflags are cleared with fsflags before it and read
 * with frflags after it. generate.sh builds and runs this and gzips the output into
 * workers/cpu/fpu-vectors.txt.gz.
 *
 * Output (text, one record per line):
 *   P <pool> <hex> <hex> ...           a named list of operand bit patterns
 *   X <op> <pool> [<pool> [<pool>]]    the op over the cartesian product of the pools, first pool
 *                                      outermost; one result line per tuple follows
 *   E <op> <n>                         n lines follow, each: operands (hex), then the results
 * A result line for an op with a rounding mode holds five fields, for RNE RTZ RDN RUP RMM:
 *   <hex result>:<hex fflags> then four times <signed decimal (result − RNE result)>:<hex fflags>
 * (results are bit patterns; the difference is taken modulo 2^64). An op without a rounding mode
 * (compare, min/max, classify, fcvt.d.s) has the single field <hex result>:<hex fflags>.
 * Results of fcvt.w[u] are the low 32 bits; of fcvt to 64-bit integers, all 64 bits.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t u64;
typedef uint32_t u32;

/* ---------------------------------------------------------------------------------------------- */
/* One instruction with a static rounding mode. `M(rmname)` expands to the asm statement.          */

#define RMSWITCH(M)                                                                                \
  switch (rm) {                                                                                    \
  case 0: M("rne"); break;                                                                         \
  case 1: M("rtz"); break;                                                                         \
  case 2: M("rdn"); break;                                                                         \
  case 3: M("rup"); break;                                                                         \
  default: M("rmm"); break;                                                                        \
  }

#define FF "\n\t"
#define PRE "fsflags zero" FF
#define POST FF "frflags %1" FF

/* The rounding-mode-dependent asm bodies, spelled out per instruction. */
#define ASM_S2(insn, rmn)                                                                          \
  __asm__ volatile("fmv.w.x ft0,%2" FF "fmv.w.x ft1,%3" FF PRE #insn ".s ft2,ft0,ft1," rmn POST  \
                   "fmv.x.w %0,ft2" : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
#define ASM_D2(insn, rmn)                                                                          \
  __asm__ volatile("fmv.d.x ft0,%2" FF "fmv.d.x ft1,%3" FF PRE #insn ".d ft2,ft0,ft1," rmn POST  \
                   "fmv.x.d %0,ft2" : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
#define ASM_S3(insn, rmn)                                                                          \
  __asm__ volatile("fmv.w.x ft0,%2" FF "fmv.w.x ft1,%3" FF "fmv.w.x ft2,%4" FF PRE #insn          \
                   ".s ft3,ft0,ft1,ft2," rmn POST "fmv.x.w %0,ft3"                                 \
                   : "=&r"(r), "=&r"(f) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3")
#define ASM_D3(insn, rmn)                                                                          \
  __asm__ volatile("fmv.d.x ft0,%2" FF "fmv.d.x ft1,%3" FF "fmv.d.x ft2,%4" FF PRE #insn          \
                   ".d ft3,ft0,ft1,ft2," rmn POST "fmv.x.d %0,ft3"                                 \
                   : "=&r"(r), "=&r"(f) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3")
#define ASM_S1(insn, rmn)                                                                          \
  __asm__ volatile("fmv.w.x ft0,%2" FF PRE #insn ".s ft2,ft0," rmn POST "fmv.x.w %0,ft2"          \
                   : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft2")
#define ASM_D1(insn, rmn)                                                                          \
  __asm__ volatile("fmv.d.x ft0,%2" FF PRE #insn ".d ft2,ft0," rmn POST "fmv.x.d %0,ft2"          \
                   : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft2")
/* float → integer register: fcvt.<int>.<fmt> rd, fs1, rm */
#define ASM_F2I(fmv, cvt, rmn)                                                                     \
  __asm__ volatile(fmv " ft0,%2" FF PRE cvt " %0,ft0," rmn POST "nop"                              \
                   : "=&r"(r), "=&r"(f) : "r"(a) : "ft0")
/* integer register → float: fcvt.<fmt>.<int> fd, rs1, rm */
#define ASM_I2F(cvt, fmvx, rmn)                                                                    \
  __asm__ volatile(PRE cvt " ft0,%2," rmn POST fmvx " %0,ft0" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0")

#define DEF(name, body, mask)                                                                      \
  static u64 name(u64 a, u64 b, u64 c, int rm, unsigned *fl) {                                     \
    u64 r; unsigned f; (void)b; (void)c;                                                           \
    body;                                                                                          \
    *fl = f; return r & (mask);                                                                    \
  }

#define M32 0xffffffffull
#define M64 0xffffffffffffffffull

#define B_fadd_s(x) ASM_S2(fadd, x)
#define B_fsub_s(x) ASM_S2(fsub, x)
#define B_fmul_s(x) ASM_S2(fmul, x)
#define B_fdiv_s(x) ASM_S2(fdiv, x)
#define B_fsqrt_s(x) ASM_S1(fsqrt, x)
#define B_fmadd_s(x) ASM_S3(fmadd, x)
#define B_fadd_d(x) ASM_D2(fadd, x)
#define B_fsub_d(x) ASM_D2(fsub, x)
#define B_fmul_d(x) ASM_D2(fmul, x)
#define B_fdiv_d(x) ASM_D2(fdiv, x)
#define B_fsqrt_d(x) ASM_D1(fsqrt, x)
#define B_fmadd_d(x) ASM_D3(fmadd, x)
#define B_cvt_w_s(x) ASM_F2I("fmv.w.x", "fcvt.w.s", x)
#define B_cvt_wu_s(x) ASM_F2I("fmv.w.x", "fcvt.wu.s", x)
#define B_cvt_l_s(x) ASM_F2I("fmv.w.x", "fcvt.l.s", x)
#define B_cvt_lu_s(x) ASM_F2I("fmv.w.x", "fcvt.lu.s", x)
#define B_cvt_w_d(x) ASM_F2I("fmv.d.x", "fcvt.w.d", x)
#define B_cvt_wu_d(x) ASM_F2I("fmv.d.x", "fcvt.wu.d", x)
#define B_cvt_l_d(x) ASM_F2I("fmv.d.x", "fcvt.l.d", x)
#define B_cvt_lu_d(x) ASM_F2I("fmv.d.x", "fcvt.lu.d", x)
#define B_cvt_s_w(x) ASM_I2F("fcvt.s.w", "fmv.x.w", x)
#define B_cvt_s_wu(x) ASM_I2F("fcvt.s.wu", "fmv.x.w", x)
#define B_cvt_s_l(x) ASM_I2F("fcvt.s.l", "fmv.x.w", x)
#define B_cvt_s_lu(x) ASM_I2F("fcvt.s.lu", "fmv.x.w", x)
/* exact, so the assembler takes no rounding mode: the same instruction five times */
#define ASM_I2F_EXACT(cvt)                                                                         \
  __asm__ volatile(PRE cvt " ft0,%2" POST "fmv.x.d %0,ft0" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0")
#define B_cvt_d_w(x) ASM_I2F_EXACT("fcvt.d.w")
#define B_cvt_d_wu(x) ASM_I2F_EXACT("fcvt.d.wu")
#define B_cvt_d_l(x) ASM_I2F("fcvt.d.l", "fmv.x.d", x)
#define B_cvt_d_lu(x) ASM_I2F("fcvt.d.lu", "fmv.x.d", x)
#define B_cvt_s_d(x)                                                                               \
  __asm__ volatile("fmv.d.x ft0,%2" FF PRE "fcvt.s.d ft2,ft0," x POST "fmv.x.w %0,ft2"           \
                   : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft2")

DEF(op_f32_add, RMSWITCH(B_fadd_s), M32)
DEF(op_f32_sub, RMSWITCH(B_fsub_s), M32)
DEF(op_f32_mul, RMSWITCH(B_fmul_s), M32)
DEF(op_f32_div, RMSWITCH(B_fdiv_s), M32)
DEF(op_f32_sqrt, RMSWITCH(B_fsqrt_s), M32)
DEF(op_f32_fma, RMSWITCH(B_fmadd_s), M32)
DEF(op_f64_add, RMSWITCH(B_fadd_d), M64)
DEF(op_f64_sub, RMSWITCH(B_fsub_d), M64)
DEF(op_f64_mul, RMSWITCH(B_fmul_d), M64)
DEF(op_f64_div, RMSWITCH(B_fdiv_d), M64)
DEF(op_f64_sqrt, RMSWITCH(B_fsqrt_d), M64)
DEF(op_f64_fma, RMSWITCH(B_fmadd_d), M64)
DEF(op_f32_to_i32, RMSWITCH(B_cvt_w_s), M32)
DEF(op_f32_to_u32, RMSWITCH(B_cvt_wu_s), M32)
DEF(op_f32_to_i64, RMSWITCH(B_cvt_l_s), M64)
DEF(op_f32_to_u64, RMSWITCH(B_cvt_lu_s), M64)
DEF(op_f64_to_i32, RMSWITCH(B_cvt_w_d), M32)
DEF(op_f64_to_u32, RMSWITCH(B_cvt_wu_d), M32)
DEF(op_f64_to_i64, RMSWITCH(B_cvt_l_d), M64)
DEF(op_f64_to_u64, RMSWITCH(B_cvt_lu_d), M64)
DEF(op_i32_to_f32, RMSWITCH(B_cvt_s_w), M32)
DEF(op_u32_to_f32, RMSWITCH(B_cvt_s_wu), M32)
DEF(op_i64_to_f32, RMSWITCH(B_cvt_s_l), M32)
DEF(op_u64_to_f32, RMSWITCH(B_cvt_s_lu), M32)
DEF(op_i32_to_f64, RMSWITCH(B_cvt_d_w), M64)
DEF(op_u32_to_f64, RMSWITCH(B_cvt_d_wu), M64)
DEF(op_i64_to_f64, RMSWITCH(B_cvt_d_l), M64)
DEF(op_u64_to_f64, RMSWITCH(B_cvt_d_lu), M64)
DEF(op_f64_to_f32, RMSWITCH(B_cvt_s_d), M32)

/* Instructions without a rounding mode. */
#define ASM_CMP(fmv, insn)                                                                         \
  __asm__ volatile(fmv " ft0,%2" FF fmv " ft1,%3" FF PRE insn " %0,ft0,ft1" POST "nop"            \
                   : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1")
#define ASM_MINMAX(fmv, insn, fmvx)                                                                \
  __asm__ volatile(fmv " ft0,%2" FF fmv " ft1,%3" FF PRE insn " ft2,ft0,ft1" POST fmvx " %0,ft2"  \
                   : "=&r"(r), "=&r"(f) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
DEF(op_f32_eq, ASM_CMP("fmv.w.x", "feq.s"), M64)
DEF(op_f32_lt, ASM_CMP("fmv.w.x", "flt.s"), M64)
DEF(op_f32_le, ASM_CMP("fmv.w.x", "fle.s"), M64)
DEF(op_f64_eq, ASM_CMP("fmv.d.x", "feq.d"), M64)
DEF(op_f64_lt, ASM_CMP("fmv.d.x", "flt.d"), M64)
DEF(op_f64_le, ASM_CMP("fmv.d.x", "fle.d"), M64)
DEF(op_f32_min, ASM_MINMAX("fmv.w.x", "fmin.s", "fmv.x.w"), M32)
DEF(op_f32_max, ASM_MINMAX("fmv.w.x", "fmax.s", "fmv.x.w"), M32)
DEF(op_f64_min, ASM_MINMAX("fmv.d.x", "fmin.d", "fmv.x.d"), M64)
DEF(op_f64_max, ASM_MINMAX("fmv.d.x", "fmax.d", "fmv.x.d"), M64)
DEF(op_f32_classify,
    __asm__ volatile("fmv.w.x ft0,%2" FF PRE "fclass.s %0,ft0" POST "nop" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0"),
    M64)
DEF(op_f64_classify,
    __asm__ volatile("fmv.d.x ft0,%2" FF PRE "fclass.d %0,ft0" POST "nop" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0"),
    M64)
DEF(op_f32_to_f64,
    __asm__ volatile("fmv.w.x ft0,%2" FF PRE "fcvt.d.s ft2,ft0" POST "fmv.x.d %0,ft2" : "=&r"(r), "=&r"(f) : "r"(a) : "ft0", "ft2"),
    M64)

typedef u64 (*opfn)(u64, u64, u64, int, unsigned *);

/* ---------------------------------------------------------------------------------------------- */
/* Operand pools                                                                                   */

#define MAXPOOL 1024
typedef struct {
  const char *name;
  int n;
  u64 v[MAXPOOL];
} pool;

static void add(pool *p, u64 x) {
  for (int i = 0; i < p->n; i++)
    if (p->v[i] == x) return;
  if (p->n < MAXPOOL) p->v[p->n++] = x;
}

static void print_pool(const pool *p, int width) {
  printf("P %s", p->name);
  for (int i = 0; i < p->n; i++) printf(" %llx", (unsigned long long)(width == 32 ? (u32)p->v[i] : p->v[i]));
  printf("\n");
}

/* splitmix64: a fixed seed keeps the file reproducible. -DSEED=… -DSCALE=… (SCALE multiplies the
   random explicit tuples) give a different or bigger set for a local soak run; the committed fixture
   uses the defaults. */
#ifndef SEED
#define SEED 0x7ab7ab7ab7ab7abull
#endif
#ifndef SCALE
#define SCALE 1
#endif
static u64 rng_state = SEED;
static u64 rnd(void) {
  u64 z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int rndint(int n) { return (int)(rnd() % (u64)n); }

/* A random significand of `bits` bits: uniform, or runs of ones and zeros (rounding edge cases
   hide in long runs, as Berkeley TestFloat's generators know). */
static u64 rnd_sig(int bits) {
  u64 mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  switch (rndint(4)) {
  case 0: return rnd() & mask;
  case 1: { /* a run of ones somewhere in zeros */
    int lo = rndint(bits), hi = lo + rndint(bits - lo) + 1;
    u64 m = (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
    return m & mask;
  }
  case 2: { /* a run of zeros somewhere in ones */
    int lo = rndint(bits), hi = lo + rndint(bits - lo) + 1;
    u64 m = (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
    return ~m & mask;
  }
  default: /* few bits set */
    return ((1ull << rndint(bits)) | (1ull << rndint(bits)) | (rnd() & 1)) & mask;
  }
}

static u32 mk32(u32 sign, int exp, u32 frac) { return (sign << 31) | ((u32)exp << 23) | (frac & 0x7fffff); }
static u64 mk64(u64 sign, int exp, u64 frac) {
  return (sign << 63) | ((u64)exp << 52) | (frac & 0xfffffffffffffull);
}

/* A random binary32 whose exponent is drawn from `exps` (−1 means subnormal/zero) */
static u32 rnd32_exp(int exp) { return mk32(rnd() & 1, exp, (u32)rnd_sig(23)); }
static u64 rnd64_exp(int exp) { return mk64(rnd() & 1, exp, rnd_sig(52)); }

static u32 rnd32(void) {
  static const int exps[] = {0, 1, 2, 63, 64, 65, 100, 120, 125, 126, 127, 128, 129, 130, 150, 157, 158, 159, 160,
                             189, 190, 191, 192, 200, 252, 253, 254};
  switch (rndint(4)) {
  case 0: return (u32)rnd();
  case 1: return rnd32_exp(124 + rndint(8));
  default: return rnd32_exp(exps[rndint(sizeof exps / sizeof exps[0])]);
  }
}
static u64 rnd64(void) {
  static const int exps[] = {0, 1, 2, 511, 512, 513, 900, 1000, 1021, 1022, 1023, 1024, 1025, 1026, 1050, 1074,
                             1075, 1076, 1085, 1086, 1087, 1088, 1100, 1534, 1535, 1536, 1900, 2045, 2046};
  switch (rndint(4)) {
  case 0: return rnd();
  case 1: return rnd64_exp(1020 + rndint(8));
  default: return rnd64_exp(exps[rndint(sizeof exps / sizeof exps[0])]);
  }
}

static const u32 special32[] = {
  0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x00000002, 0x00000003, 0x007fffff, 0x807fffff,
  0x00400000, 0x00400001, 0x00800000, 0x80800000, 0x00800001, 0x00ffffff, 0x01000000, 0x7f7fffff,
  0xff7fffff, 0x7f7ffffe, 0x7f000000, 0x7effffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
  0x7fc00001, 0x7f800001, 0xff800001, 0x7fbfffff, 0x3f800000, 0xbf800000, 0x3f800001, 0x3f7fffff,
  0xbf7fffff, 0x3fc00000, 0x40000000, 0x3f000000, 0xbf000000, 0x40400000, 0x3fffffff, 0x3effffff,
  0x4b000000, 0x4b000001, 0x4b7fffff, 0x4affffff, 0x3f400000, 0x40200000, 0xc0200000, 0x3fa00000,
  0x4f000000, 0x4effffff, 0xcf000000, 0xcf000001, 0x4f800000, 0x4f7fffff, 0x5f000000, 0x5effffff,
  0xdf000000, 0xdf000001, 0x5f800000, 0x5f7fffff, 0x3dcccccd, 0x3eaaaaab, 0x34000000, 0x33800000,
  0x1f800000, 0x1f7fffff, 0x20000000, 0x60000000, 0x5fffffff, 0x1fffffff, 0xbe800000, 0x3e800001,
};
static const u64 special64[] = {
  0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001, 0x0000000000000002,
  0x0000000000000003, 0x000fffffffffffff, 0x800fffffffffffff, 0x0008000000000000, 0x0008000000000001,
  0x0010000000000000, 0x8010000000000000, 0x0010000000000001, 0x001fffffffffffff, 0x0020000000000000,
  0x7fefffffffffffff, 0xffefffffffffffff, 0x7feffffffffffffe, 0x7fe0000000000000, 0x7fdfffffffffffff,
  0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0xfff8000000000000, 0x7ff8000000000001,
  0x7ff0000000000001, 0xfff0000000000001, 0x7ff7ffffffffffff, 0x3ff0000000000000, 0xbff0000000000000,
  0x3ff0000000000001, 0x3fefffffffffffff, 0xbfefffffffffffff, 0x3ff8000000000000, 0x4000000000000000,
  0x3fe0000000000000, 0xbfe0000000000000, 0x4008000000000000, 0x3fffffffffffffff, 0x3fdfffffffffffff,
  0x4330000000000000, 0x4330000000000001, 0x433fffffffffffff, 0x432fffffffffffff, 0x3fe8000000000000,
  0x4004000000000000, 0xc004000000000000, 0x3ff4000000000000, 0x41e0000000000000, 0x41dfffffffc00000,
  0x41dfffffffffffff, 0x41e0000000100000, 0xc1e0000000000000, 0xc1e0000000200000, 0xc1e0000000100000,
  0x41f0000000000000, 0x41efffffffe00000, 0x41effffffff00000, 0x43e0000000000000, 0x43dfffffffffffff,
  0xc3e0000000000000, 0xc3e0000000000001, 0x43f0000000000000, 0x43efffffffffffff, 0x3fb999999999999a,
  0x3fd5555555555555, 0x3cb0000000000000, 0x3ca0000000000000, 0x1ff0000000000000, 0x1fefffffffffffff,
  0x2000000000000000, 0x6000000000000000, 0x5fffffffffffffff, 0x1fffffffffffffff, 0xbfd0000000000000,
  /* around the binary32 range, for fcvt.s.d */
  0x47efffffe0000000, 0x47efffffefffffff, 0x47effffff0000000, 0x47f0000000000000, 0x3810000000000000,
  0x380fffffffffffff, 0x380ffffff0000000, 0x380fffffe0000000, 0x36a0000000000000, 0x3690000000000000,
  0x3690000000000001, 0x369fffffffffffff, 0x36affffffffffffe, 0x3680000000000000, 0x3ff0000010000000,
  0x3ff0000010000001, 0x3ff0000030000000, 0x380fffffefffffff,
};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------------------------------------- */

static int nlines = 0;

static void put_results(opfn f, int has_rm, u64 a, u64 b, u64 c) {
  unsigned fl;
  u64 r0 = f(a, b, c, 0, &fl);
  printf("%llx:%x", (unsigned long long)r0, fl);
  if (has_rm)
    for (int rm = 1; rm < 5; rm++) {
      u64 r = f(a, b, c, rm, &fl);
      printf(" %lld:%x", (long long)(int64_t)(r - r0), fl);
    }
  printf("\n");
  nlines++;
}

static void cross1(const char *name, opfn f, int has_rm, const pool *p) {
  printf("X %s %s\n", name, p->name);
  for (int i = 0; i < p->n; i++) put_results(f, has_rm, p->v[i], 0, 0);
}
static void cross2(const char *name, opfn f, int has_rm, const pool *p, const pool *q) {
  printf("X %s %s %s\n", name, p->name, q->name);
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < q->n; j++) put_results(f, has_rm, p->v[i], q->v[j], 0);
}
static void cross3(const char *name, opfn f, const pool *p, const pool *q, const pool *s) {
  printf("X %s %s %s %s\n", name, p->name, q->name, s->name);
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < q->n; j++)
      for (int k = 0; k < s->n; k++) put_results(f, 1, p->v[i], q->v[j], s->v[k]);
}

/* Explicit random tuples. kind: how operands relate (see below). */
static u32 near32(u32 a, int spread) { /* same sign, exponent within ±spread */
  int e = (int)((a >> 23) & 0xff) + rndint(2 * spread + 1) - spread;
  if (e < 0) e = 0;
  if (e > 254) e = 254;
  return mk32(rnd() & 1, e, (u32)rnd_sig(23));
}
static u64 near64(u64 a, int spread) {
  int e = (int)((a >> 52) & 0x7ff) + rndint(2 * spread + 1) - spread;
  if (e < 0) e = 0;
  if (e > 2046) e = 2046;
  return mk64(rnd() & 1, e, rnd_sig(52));
}
static float f_of(u32 x) { float f; memcpy(&f, &x, 4); return f; }
static u32 bits_f(float f) { u32 x; memcpy(&x, &f, 4); return x; }
static double d_of(u64 x) { double d; memcpy(&d, &x, 8); return d; }
static u64 bits_d(double d) { u64 x; memcpy(&x, &d, 8); return x; }

static void explicit32(const char *name, opfn f, int arity, int n) {
  n *= SCALE;
  printf("E %s %d\n", name, n);
  for (int i = 0; i < n; i++) {
    u32 a = rnd32(), b, c = 0;
    switch (rndint(4)) {
    case 0: b = rnd32(); break;
    case 1: b = near32(a, 2); break;
    case 2: b = (a ^ 0x80000000u) + (u32)(rndint(9) - 4); break; /* near cancellation */
    default: b = near32(a, 30); break;
    }
    if (arity == 3) {
      /* c close to −a·b often, to exercise cancellation and the single rounding */
      double p = (double)f_of(a) * (double)f_of(b);
      switch (rndint(3)) {
      case 0: c = rnd32(); break;
      case 1: c = bits_f((float)-p) + (u32)(rndint(5) - 2); break;
      default: c = near32(bits_f((float)p), 26); break;
      }
      printf("%x %x %x ", a, b, c);
    } else {
      printf("%x %x ", a, b);
    }
    put_results(f, 1, a, b, c);
  }
}
static void explicit64(const char *name, opfn f, int arity, int n) {
  n *= SCALE;
  printf("E %s %d\n", name, n);
  for (int i = 0; i < n; i++) {
    u64 a = rnd64(), b, c = 0;
    switch (rndint(4)) {
    case 0: b = rnd64(); break;
    case 1: b = near64(a, 2); break;
    case 2: b = (a ^ 0x8000000000000000ull) + (u64)(int64_t)(rndint(9) - 4); break;
    default: b = near64(a, 60); break;
    }
    if (arity == 3) {
      long double p = (long double)d_of(a) * (long double)d_of(b); /* exact: binary128 */
      switch (rndint(3)) {
      case 0: c = rnd64(); break;
      case 1: c = bits_d((double)-p) + (u64)(int64_t)(rndint(5) - 2); break;
      default: c = near64(bits_d((double)p), 55); break;
      }
      printf("%llx %llx %llx ", (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
    } else {
      printf("%llx %llx ", (unsigned long long)a, (unsigned long long)b);
    }
    put_results(f, 1, a, b, c);
  }
}
/* Unary explicit random: conversions and sqrt over many values. */
static void explicit1(const char *name, opfn f, int has_rm, int n, u64 (*gen)(void), int width) {
  n *= SCALE;
  printf("E %s %d\n", name, n);
  for (int i = 0; i < n; i++) {
    u64 a = gen();
    if (width == 32) a = (u32)a;
    printf("%llx ", (unsigned long long)a);
    put_results(f, has_rm, a, 0, 0);
  }
}
static u64 gen32(void) { return rnd32(); }
static u64 gen64(void) { return rnd64(); }
/* values near integers, in the range of the integer conversions */
static u64 gen_int_range32(void) {
  int e = 126 + rndint(40);
  return mk32(rnd() & 1, e, (u32)rnd_sig(23));
}
static u64 gen_int_range64(void) {
  int e = 1022 + rndint(70);
  return mk64(rnd() & 1, e, rnd_sig(52));
}
static u64 gen_i64(void) {
  int bits = 1 + rndint(64);
  u64 x = rnd_sig(bits) | (1ull << (bits - 1));
  return (rnd() & 1) ? -x : x;
}

int main(void) {
  pool S32 = {"s32"}, B32 = {"b32"}, M32p = {"m32"}, C32 = {"c32"};
  pool S64 = {"s64"}, B64 = {"b64"}, M64p = {"m64"}, C64 = {"c64"};
  pool I32 = {"i32"}, I64 = {"i64"};

  for (int i = 0; i < COUNT(special32); i++) add(&S32, special32[i]);
  for (int i = 0; i < COUNT(special64); i++) add(&S64, special64[i]);

  /* binary-op pools: the specials plus random values */
  for (int i = 0; i < S32.n; i++) add(&B32, S32.v[i]);
  while (B32.n < 110) add(&B32, rnd32());
  for (int i = 0; i < S64.n; i++) add(&B64, S64.v[i]);
  while (B64.n < 120) add(&B64, rnd64());

  /* fma pool: few, for the cube */
  static const u32 fma32[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
                              0x3f800000, 0xbf800000, 0x3f800001, 0x3f7fffff, 0x00000001, 0x807fffff,
                              0x00800000, 0x7f7fffff, 0x34000000, 0xb3800000, 0x3fc00000, 0x5f800000};
  static const u64 fma64[] = {0x0000000000000000, 0x8000000000000000, 0x7ff0000000000000, 0xfff0000000000000,
                              0x7ff8000000000000, 0x7ff0000000000001, 0x3ff0000000000000, 0xbff0000000000000,
                              0x3ff0000000000001, 0x3fefffffffffffff, 0x0000000000000001, 0x800fffffffffffff,
                              0x0010000000000000, 0x7fefffffffffffff, 0x3cb0000000000000, 0xbca0000000000000,
                              0x3ff8000000000000, 0x5ff0000000000000};
  for (int i = 0; i < COUNT(fma32); i++) add(&M32p, fma32[i]);
  while (M32p.n < 24) add(&M32p, rnd32());
  for (int i = 0; i < COUNT(fma64); i++) add(&M64p, fma64[i]);
  while (M64p.n < 24) add(&M64p, rnd64());

  /* unary pools */
  for (int i = 0; i < S32.n; i++) add(&C32, S32.v[i]);
  while (C32.n < 300) add(&C32, rndint(2) ? rnd32() : gen_int_range32());
  for (int i = 0; i < S64.n; i++) add(&C64, S64.v[i]);
  while (C64.n < 330) add(&C64, rndint(3) ? rnd64() : gen_int_range64());

  static const u32 ints32[] = {0, 1, 0xffffffff, 2, 3, 0x7fffffff, 0x80000000, 0x80000001, 0x00ffffff,
                               0x01000000, 0x01000001, 0x01000002, 0x01000003, 0x02000005, 0x7fffffbf,
                               0x7fffffc0, 0x7fffffc1, 0xffffff7f, 0xffffff80, 0xfefffffe, 0x55555555,
                               0xaaaaaaaa, 0xfffffffe, 0x0000ffff};
  for (int i = 0; i < COUNT(ints32); i++) add(&I32, ints32[i]);
  while (I32.n < 160) add(&I32, (u32)gen_i64() & (rndint(2) ? 0xffffffffu : 0x7fffffffu));
  static const u64 ints64[] = {0, 1, ~0ull, 2, 0x7fffffffffffffffull, 0x8000000000000000ull,
                               0x8000000000000001ull, 0x0020000000000000ull, 0x0020000000000001ull,
                               0x0020000000000002ull, 0x0020000000000003ull, 0x001fffffffffffffull,
                               0x7ffffffffffffc00ull, 0x7ffffffffffffdffull, 0x7ffffffffffffe00ull,
                               0x7ffffffffffffe01ull, 0xfffffffffffff800ull, 0xfffffffffffffbffull,
                               0xfffffffffffffc00ull, 0x0000000001000001ull, 0x0000000001000003ull,
                               0xffffffffff000001ull, 0x7fffffbfffffffffull, 0x7fffff8000000000ull,
                               0x7fffff8000000001ull, 0xffffff8000000000ull, 0xffffff7fffffffffull};
  for (int i = 0; i < COUNT(ints64); i++) add(&I64, ints64[i]);
  while (I64.n < 220) add(&I64, gen_i64());

  printf("# RISC-V F/D reference vectors from scripts/fpu-vectors/gen.c (see its header for the format)\n");
  print_pool(&B32, 32);
  print_pool(&M32p, 32);
  print_pool(&C32, 32);
  print_pool(&B64, 64);
  print_pool(&M64p, 64);
  print_pool(&C64, 64);
  print_pool(&I32, 32);
  print_pool(&I64, 64);

  cross2("f32_add", op_f32_add, 1, &B32, &B32);
  cross2("f32_sub", op_f32_sub, 1, &B32, &B32);
  cross2("f32_mul", op_f32_mul, 1, &B32, &B32);
  cross2("f32_div", op_f32_div, 1, &B32, &B32);
  cross2("f32_min", op_f32_min, 0, &B32, &B32);
  cross2("f32_max", op_f32_max, 0, &B32, &B32);
  cross2("f32_eq", op_f32_eq, 0, &B32, &B32);
  cross2("f32_lt", op_f32_lt, 0, &B32, &B32);
  cross2("f32_le", op_f32_le, 0, &B32, &B32);
  cross3("f32_fma", op_f32_fma, &M32p, &M32p, &M32p);
  cross1("f32_sqrt", op_f32_sqrt, 1, &C32);
  cross1("f32_classify", op_f32_classify, 0, &C32);
  cross1("f32_to_f64", op_f32_to_f64, 0, &C32);
  cross1("f32_to_i32", op_f32_to_i32, 1, &C32);
  cross1("f32_to_u32", op_f32_to_u32, 1, &C32);
  cross1("f32_to_i64", op_f32_to_i64, 1, &C32);
  cross1("f32_to_u64", op_f32_to_u64, 1, &C32);
  cross1("i32_to_f32", op_i32_to_f32, 1, &I32);
  cross1("u32_to_f32", op_u32_to_f32, 1, &I32);
  cross1("i64_to_f32", op_i64_to_f32, 1, &I64);
  cross1("u64_to_f32", op_u64_to_f32, 1, &I64);

  cross2("f64_add", op_f64_add, 1, &B64, &B64);
  cross2("f64_sub", op_f64_sub, 1, &B64, &B64);
  cross2("f64_mul", op_f64_mul, 1, &B64, &B64);
  cross2("f64_div", op_f64_div, 1, &B64, &B64);
  cross2("f64_min", op_f64_min, 0, &B64, &B64);
  cross2("f64_max", op_f64_max, 0, &B64, &B64);
  cross2("f64_eq", op_f64_eq, 0, &B64, &B64);
  cross2("f64_lt", op_f64_lt, 0, &B64, &B64);
  cross2("f64_le", op_f64_le, 0, &B64, &B64);
  cross3("f64_fma", op_f64_fma, &M64p, &M64p, &M64p);
  cross1("f64_sqrt", op_f64_sqrt, 1, &C64);
  cross1("f64_classify", op_f64_classify, 0, &C64);
  cross1("f64_to_f32", op_f64_to_f32, 1, &C64);
  cross1("f64_to_i32", op_f64_to_i32, 1, &C64);
  cross1("f64_to_u32", op_f64_to_u32, 1, &C64);
  cross1("f64_to_i64", op_f64_to_i64, 1, &C64);
  cross1("f64_to_u64", op_f64_to_u64, 1, &C64);
  cross1("i32_to_f64", op_i32_to_f64, 1, &I32);
  cross1("u32_to_f64", op_u32_to_f64, 1, &I32);
  cross1("i64_to_f64", op_i64_to_f64, 1, &I64);
  cross1("u64_to_f64", op_u64_to_f64, 1, &I64);

  explicit32("f32_add", op_f32_add, 2, 1500);
  explicit32("f32_sub", op_f32_sub, 2, 500);
  explicit32("f32_mul", op_f32_mul, 2, 1500);
  explicit32("f32_div", op_f32_div, 2, 1500);
  explicit32("f32_fma", op_f32_fma, 3, 3000);
  explicit1("f32_sqrt", op_f32_sqrt, 1, 1000, gen32, 32);
  explicit1("f64_to_f32", op_f64_to_f32, 1, 1000, gen64, 64);
  explicit1("f32_to_i64", op_f32_to_i64, 1, 500, gen_int_range32, 32);
  explicit1("f32_to_u32", op_f32_to_u32, 1, 500, gen_int_range32, 32);
  explicit1("i64_to_f32", op_i64_to_f32, 1, 500, gen_i64, 64);
  explicit64("f64_add", op_f64_add, 2, 1500);
  explicit64("f64_sub", op_f64_sub, 2, 500);
  explicit64("f64_mul", op_f64_mul, 2, 1500);
  explicit64("f64_div", op_f64_div, 2, 1500);
  explicit64("f64_fma", op_f64_fma, 3, 3000);
  explicit1("f64_sqrt", op_f64_sqrt, 1, 1000, gen64, 64);
  explicit1("f64_to_i64", op_f64_to_i64, 1, 500, gen_int_range64, 64);
  explicit1("f64_to_u64", op_f64_to_u64, 1, 500, gen_int_range64, 64);
  explicit1("f64_to_i32", op_f64_to_i32, 1, 500, gen_int_range64, 64);
  explicit1("i64_to_f64", op_i64_to_f64, 1, 500, gen_i64, 64);
  explicit1("u64_to_f64", op_u64_to_f64, 1, 500, gen_i64, 64);

  printf("# %d result lines\n", nlines);
  return 0;
}
