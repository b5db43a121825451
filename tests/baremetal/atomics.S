/*
 * The A extension (unprivileged spec 20191213 ch. 8): LR/SC success and failure, the reservation
 * rules for one hart, every AMO in .w and .d, sign extension of .w results, register aliasing, and
 * the exceptions of misaligned and unmapped atomics.
 *
 * Reservation rules used (§8.2): "SC.W ... invalidates any reservation held by this hart" whether it
 * succeeds or fails; "the SC must fail if the address is not within the reservation set of the most
 * recent LR in program order"; SC writes 0 to rd on success and a nonzero code on failure. An LR/SC
 * pair with a store in between is not a constrained sequence, so its SC may succeed or fail; the
 * test then only checks that memory agrees with the result.
 */
#include "harness.h"

  TEST_NAME atomics

#define OLD_D 0x8000000000000001
#define OP_D 0x7fffffffffffffff
#define OLD_W 0x80000001
#define OP_W 0xdeadbeef7fffffff  /* the upper half must be ignored by .w operations */
#define SENTINEL 0xa5a5a5a5

/*
 * amo\op.d rd, OP_D, (amo_d) with memory OLD_D: rd = OLD_D and memory = \result. Codes \n, \n+1.
 */
.macro AMO_D n, op, result
  la s1, amo_d
  li t0, OLD_D
  sd t0, 0(s1)
  li s2, OP_D
  amo\op\().d s3, s2, (s1)
  li t0, OLD_D
  CHECK_EQ \n, s3, t0
  ld t0, 0(s1)
  li t1, \result
  CHECK_EQ \n + 1, t0, t1
.endm

/*
 * amo\op.w rd, OP_W, (amo_w) with the word OLD_W next to a SENTINEL word: rd = OLD_W sign-extended,
 * the word = \result, the sentinel untouched. Codes \n .. \n+2.
 */
.macro AMO_W n, op, result
  la s1, amo_w
  li t0, OLD_W
  sw t0, 0(s1)
  li t0, SENTINEL
  sw t0, 4(s1)
  li s2, OP_W
  amo\op\().w s3, s2, (s1)
  li t0, 0xffffffff80000001
  CHECK_EQ \n, s3, t0
  lwu t0, 0(s1)
  li t1, \result
  CHECK_EQ \n + 1, t0, t1
  lwu t0, 4(s1)
  li t1, SENTINEL
  CHECK_EQ \n + 2, t0, t1
.endm

  .text
  .globl test_main
test_main:
  li a7, 0

  /* ---- LR/SC */
  la s1, word_a
  li t0, 0x1111
  sd t0, 0(s1)
  lr.d s3, (s1)
  CHECK_EQI 1, s3, 0x1111
  li s2, 0x2222
  sc.d t0, s2, (s1)
  CHECK_EQ 2, t0, zero        /* success */
  ld t0, 0(s1)
  CHECK_EQI 3, t0, 0x2222
  li s2, 0x3333
  sc.d t0, s2, (s1)           /* the reservation went with the first SC */
  CHECK_NE 4, t0, zero
  ld t0, 0(s1)
  CHECK_EQI 5, t0, 0x2222

  /* SC to another address than the LR's fails, and also ends the reservation */
  la s4, word_b
  li t0, 0x4444
  sd t0, 0(s4)
  lr.d s3, (s1)
  li s2, 0x5555
  sc.d t0, s2, (s4)
  CHECK_NE 6, t0, zero
  ld t0, 0(s4)
  CHECK_EQI 7, t0, 0x4444
  sc.d t0, s2, (s1)
  CHECK_NE 8, t0, zero
  ld t0, 0(s1)
  CHECK_EQI 9, t0, 0x2222

  /* a store elsewhere between LR and SC: either outcome, but memory must match it */
  la s5, word_far
  lr.d s3, (s1)
  sd s3, 0(s5)
  li s2, 0x6666
  sc.d t0, s2, (s1)
  ld t1, 0(s1)
  beqz t0, 1f
  CHECK_EQI 10, t1, 0x2222
  j 2f
1:
  CHECK_EQI 11, t1, 0x6666
2:

  /* LR.W sign-extends; SC.W writes 32 bits only */
  la s1, amo_w
  li t0, 0x80000000
  sw t0, 0(s1)
  li t0, SENTINEL
  sw t0, 4(s1)
  lr.w s3, (s1)
  li t0, 0xffffffff80000000
  CHECK_EQ 12, s3, t0
  li s2, 0xffffffff12345678
  sc.w t0, s2, (s1)
  CHECK_EQ 13, t0, zero
  lwu t0, 0(s1)
  CHECK_EQI 14, t0, 0x12345678
  lwu t0, 4(s1)
  CHECK_EQI 15, t0, SENTINEL
  sc.w t0, s2, (s1)
  CHECK_NE 16, t0, zero

  /* aq/rl bits change nothing on one hart */
  la s1, word_a
  lr.d.aq s3, (s1)
  li s2, 0x7777
  sc.d.rl t0, s2, (s1)
  CHECK_EQ 17, t0, zero
  ld t0, 0(s1)
  CHECK_EQI 18, t0, 0x7777

  /* ---- AMO .d: old = OLD_D, operand = OP_D */
  AMO_D 20, swap, OP_D
  AMO_D 22, add, 0
  AMO_D 24, and, 0x0000000000000001
  AMO_D 26, or, 0xffffffffffffffff
  AMO_D 28, xor, 0xfffffffffffffffe
  AMO_D 30, min, OLD_D          /* signed: OLD_D is negative */
  AMO_D 32, max, OP_D
  AMO_D 34, minu, OP_D
  AMO_D 36, maxu, OLD_D

  /* ---- AMO .w: old = OLD_W (negative as 32 bits), operand low half 0x7fffffff */
  AMO_W 40, swap, 0x7fffffff
  AMO_W 43, add, 0x00000000
  AMO_W 46, and, 0x00000001
  AMO_W 49, or, 0xffffffff
  AMO_W 52, xor, 0xfffffffe
  AMO_W 55, min, OLD_W
  AMO_W 58, max, 0x7fffffff
  AMO_W 61, minu, 0x7fffffff
  AMO_W 64, maxu, OLD_W

  /* .w on the upper word of a dword */
  la s1, amo_w
  li t0, 0x00000005ffffffff
  sd t0, 0(s1)
  addi s4, s1, 4
  li s2, 3
  amoadd.w s3, s2, (s4)
  CHECK_EQI 67, s3, 5
  ld t0, 0(s1)
  li t1, 0x00000008ffffffff
  CHECK_EQ 68, t0, t1

  /* ---- aliasing: rd = x0 still writes memory; rd = rs2 returns the old value and stores the
   * operand read before it; rd = rs1 uses the address read before it */
  la s1, amo_d
  li t0, 40
  sd t0, 0(s1)
  li s2, 2
  amoadd.d zero, s2, (s1)
  ld t0, 0(s1)
  CHECK_EQI 69, t0, 42
  li a2, 99
  amoswap.d a2, a2, (s1)
  CHECK_EQI 70, a2, 42
  ld t0, 0(s1)
  CHECK_EQI 71, t0, 99
  mv a1, s1
  li a2, 1
  amoadd.d a1, a2, (a1)
  CHECK_EQI 72, a1, 99
  ld t0, 0(s1)
  CHECK_EQI 73, t0, 100
  amoadd.d.aqrl t0, a2, (s1)
  CHECK_EQI 74, t0, 100
  ld t0, 0(s1)
  CHECK_EQI 75, t0, 101

  /* ---- exceptions. Misaligned AMOs and LRs always trap: address-misaligned or access fault
   * (§8.2, §8.4), xtval = the address, memory untouched. For AMOs these are the store/AMO causes
   * (6, 7); QEMU 7.2 raises a load address-misaligned exception (4) instead. */
  la s1, amo_d
  li t0, 0x0102030405060708
  sd t0, 0(s1)
  sd t0, 8(s1)
  addi s1, s1, 4
  RUN_PROBE PRIV_M, probe_amo
  la s4, probe_amo
  QEMU7_SKIP 1f
  EXPECT_TRAP_EITHER_R 80, PRIV_M, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, s4, s1
  j 2f
1:
  EXPECT_TRAP_R 80, PRIV_M, CAUSE_MISALIGNED_LOAD, s4, s1
2:
  la t0, amo_d
  ld t0, 0(t0)
  li t1, 0x0102030405060708
  CHECK_EQ 81, t0, t1

  la s1, amo_d + 2
  CLEAR_TRAP
1:
  amoadd.w s3, s2, (s1)
  la s4, 1b
  QEMU7_SKIP 2f
  EXPECT_TRAP_EITHER_R 82, PRIV_M, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, s4, s1
  j 3f
2:
  EXPECT_TRAP_R 82, PRIV_M, CAUSE_MISALIGNED_LOAD, s4, s1
3:

  la s1, amo_d + 4
  RUN_PROBE PRIV_M, probe_lr
  la s4, probe_lr
  EXPECT_TRAP_EITHER_R 83, PRIV_M, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, s4, s1

  /* unmapped: LR raises a load access fault; an AMO a store/AMO access fault (riscv-isa-manual#469),
   * which QEMU 7.2 reports as a load access fault */
  li s1, UNMAPPED_ADDR
  PROBE_FAULT 84, PRIV_M, probe_lr, CAUSE_LOAD_ACCESS
  RUN_PROBE PRIV_M, probe_amo
  QEMU7_SKIP 1f
  EXPECT_TRAP 85, PRIV_M, CAUSE_STORE_ACCESS, probe_amo, s1
  j 2f
1:
  EXPECT_TRAP 85, PRIV_M, CAUSE_LOAD_ACCESS, probe_amo, s1
2:

  PASS

  .data
  .balign 64
word_a:
  .dword 0
amo_d:
  .dword 0, 0
amo_w:
  .dword 0

  /* on other pages than word_a: outside any plausible reservation set of an LR of word_a */
  .bss
  .balign 4096
  .zero 4096
word_b:
  .dword 0
  .balign 4096
  .zero 4096
word_far:
  .dword 0
