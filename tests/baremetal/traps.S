/*
 * Synchronous traps (privileged spec 1.12 §3.1.6–3.1.16, §3.3): environment calls from M, S and U;
 * illegal instructions with mtval = the instruction; breakpoints; access faults and misaligned
 * accesses; medeleg delegation to S; mret/sret and the xPP/xPIE/xIE stack; mstatus.TVM, TSR, TW; the
 * counter-enable registers.
 */
#include "harness.h"

  TEST_NAME traps


  .text
  .globl test_main
test_main:
  li a7, 0

  /* ---- ecall: cause by origin, mepc = the ecall, mtval = 0 ("for other traps, mtval is set to
   * zero", §3.1.16), MPP = the mode the trap came from */
  CLEAR_TRAP
1:
  ecall
  EXPECT_TRAP 1, PRIV_M, CAUSE_MACHINE_ECALL, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 2, t0, MSTATUS_MPP, (PRIV_M << MSTATUS_MPP_SHIFT)

  CLEAR_TRAP
  ENTER PRIV_S
  li a7, 0
1:
  ecall
  RETURN_TO_M
  EXPECT_TRAP 3, PRIV_M, CAUSE_SUPERVISOR_ECALL, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 4, t0, MSTATUS_MPP, (PRIV_S << MSTATUS_MPP_SHIFT)

  CLEAR_TRAP
  ENTER PRIV_U
  li a7, 0
1:
  ecall
  RETURN_TO_M
  EXPECT_TRAP 5, PRIV_M, CAUSE_USER_ECALL, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 6, t0, MSTATUS_MPP, (PRIV_U << MSTATUS_MPP_SHIFT)

  /* trap entry: MPIE = MIE, MIE = 0; mret restores MIE (mie = 0: nothing can interrupt) */
  csrsi mstatus, MSTATUS_MIE
  CLEAR_TRAP
  li a7, 0
1:
  ecall
  csrr t0, mstatus
  csrci mstatus, MSTATUS_MIE
  CHECK_BITS 7, t0, MSTATUS_MIE, MSTATUS_MIE
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 8, t0, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE

  /* ---- illegal instructions; mtval = the instruction's bits (tabvm writes them; §3.1.16 allows 0) */
  CLEAR_TRAP
1:
  .word 0xfedcb06b            /* major opcode 1101011 is reserved */
  EXPECT_ILLEGAL 9, PRIV_M, 1b

  CLEAR_TRAP
1:
  .half 0x0010                /* C.ADDI4SPN with nzuimm = 0 is reserved */
  EXPECT_ILLEGAL 10, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_S
1:
  csrr t0, mstatus            /* M-level CSR from S */
  RETURN_TO_M
  EXPECT_ILLEGAL 11, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_U
1:
  csrr t0, sstatus            /* S-level CSR from U */
  RETURN_TO_M
  EXPECT_ILLEGAL 12, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_S
1:
  mret                        /* mret below M */
  RETURN_TO_M
  EXPECT_ILLEGAL 13, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_U
1:
  sret                        /* sret in U */
  RETURN_TO_M
  EXPECT_ILLEGAL 14, PRIV_M, 1b

  CLEAR_TRAP
1:
  csrw mhartid, t0            /* CSR numbers 0xC00-0xFFF are read-only: any write is illegal (§2.1) */
  EXPECT_ILLEGAL 15, PRIV_M, 1b

  CLEAR_TRAP
1:
  csrw cycle, t0
  EXPECT_ILLEGAL 16, PRIV_M, 1b

  CLEAR_TRAP
1:
  csrr t0, 0x0ff              /* unallocated CSR number */
  EXPECT_ILLEGAL 17, PRIV_M, 1b

  /* ---- mstatus.TVM: satp and sfence.vma are illegal in S (§3.1.6.5), not in M */
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  CLEAR_TRAP
  ENTER PRIV_S
1:
  csrr t0, satp
  RETURN_TO_M
  EXPECT_ILLEGAL 18, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_S
1:
  sfence.vma
  RETURN_TO_M
  EXPECT_ILLEGAL 19, PRIV_M, 1b

  CLEAR_TRAP
  csrr t0, satp
  sfence.vma
  EXPECT_NO_TRAP 20

  li t0, MSTATUS_TVM
  csrc mstatus, t0
  CLEAR_TRAP
  ENTER PRIV_S
  csrr t0, satp
  sfence.vma
  RETURN_TO_M
  EXPECT_NO_TRAP 21

  /* ---- mstatus.TSR: sret is illegal in S. If it were not, it would return to 2f. */
  li t0, MSTATUS_TSR
  csrs mstatus, t0
  la t0, 2f
  csrw sepc, t0
  CLEAR_TRAP
  ENTER PRIV_S
1:
  sret
  RETURN_TO_M
  j 3f
2:
  FAIL 22
3:
  EXPECT_ILLEGAL 23, PRIV_M, 1b
  li t0, MSTATUS_TSR
  csrc mstatus, t0

  /* ---- WFI: illegal in S when TW = 1, and in U whenever S exists (§3.3.3; with nothing pending and
   * nothing enabled, "does not complete within a bounded time" certainly holds) */
  li t0, MSTATUS_TW
  csrs mstatus, t0
  CLEAR_TRAP
  ENTER PRIV_S
1:
  wfi
  RETURN_TO_M
  EXPECT_ILLEGAL 24, PRIV_M, 1b
  li t0, MSTATUS_TW
  csrc mstatus, t0

  CLEAR_TRAP
  ENTER PRIV_U
1:
  wfi
  RETURN_TO_M
  EXPECT_ILLEGAL 25, PRIV_M, 1b

  /* ---- counters (Zicntr): S needs mcounteren, U needs mcounteren and scounteren (§3.1.11) */
  csrw mcounteren, zero
  csrw scounteren, zero
  CLEAR_TRAP
  ENTER PRIV_S
1:
  rdcycle t0
  RETURN_TO_M
  EXPECT_ILLEGAL 26, PRIV_M, 1b

  CLEAR_TRAP
  ENTER PRIV_U
1:
  rdtime t0
  RETURN_TO_M
  EXPECT_ILLEGAL 27, PRIV_M, 1b

  li t0, 7
  csrw mcounteren, t0
  CLEAR_TRAP
  ENTER PRIV_S
  rdcycle t0
  rdtime t0
  rdinstret t0
  RETURN_TO_M
  EXPECT_NO_TRAP 28

  CLEAR_TRAP
  ENTER PRIV_U
1:
  rdinstret t0
  RETURN_TO_M
  EXPECT_ILLEGAL 29, PRIV_M, 1b

  li t0, 7
  csrw scounteren, t0
  CLEAR_TRAP
  ENTER PRIV_U
  rdcycle t0
  rdtime t0
  rdinstret t0
  RETURN_TO_M
  EXPECT_NO_TRAP 30

  csrw mcounteren, zero
  csrw scounteren, zero
  CLEAR_TRAP
  rdinstret t0
  nop
  nop
  rdinstret t1
  EXPECT_NO_TRAP 31
  bgtu t1, t0, 1f
  FAIL 32                     /* instret must advance */
1:

  /* ---- breakpoints: mtval is the ebreak's address or 0 (§3.1.16 allows either) */
  CLEAR_TRAP
  .option push
  .option norvc
1:
  ebreak
  .option pop
  EXPECT_TRAP_ANY_TVAL 33, PRIV_M, CAUSE_BREAKPOINT, 1b
  TRAP_FIELD t0, TR_TVAL
  beqz t0, 2f
  la t1, 1b
  CHECK_EQ 34, t0, t1
2:

  /* c.ebreak from S: the handler must step over 2 bytes, so the c.li after it runs */
  li s2, 0
  CLEAR_TRAP
  ENTER PRIV_S
1:
  c.ebreak
  c.li s2, 1
  RETURN_TO_M
  EXPECT_TRAP_ANY_TVAL 35, PRIV_M, CAUSE_BREAKPOINT, 1b
  CHECK_EQI 36, s2, 1

  /* ---- access faults on addresses nothing answers; mtval = the address */
  li s1, UNMAPPED_ADDR + 8
  PROBE_FAULT 37, PRIV_M, probe_load, CAUSE_LOAD_ACCESS
  li s1, UNMAPPED_ADDR + 16
  PROBE_FAULT 38, PRIV_M, probe_store, CAUSE_STORE_ACCESS
  li s1, UNMAPPED_ADDR
  PROBE_FETCH_FAULT 39, PRIV_M, probe_fetch, CAUSE_FETCH_ACCESS
  li s1, UNMAPPED_ADDR + 0x100
  PROBE_FAULT 40, PRIV_U, probe_load, CAUSE_LOAD_ACCESS
  li s1, UNMAPPED_ADDR + 0x108
  PROBE_FAULT 41, PRIV_S, probe_store, CAUSE_STORE_ACCESS
  li s1, UNMAPPED_ADDR + 0x200
  /* AMOs raise store/AMO faults, never load faults (riscv-isa-manual#469). QEMU 7.2 reports a load
   * access fault for an AMO to unmapped space. */
  RUN_PROBE PRIV_S, probe_amo
  QEMU7_SKIP 1f
  EXPECT_TRAP 42, PRIV_M, CAUSE_STORE_ACCESS, probe_amo, s1
  j 2f
1:
  EXPECT_TRAP 42, PRIV_M, CAUSE_LOAD_ACCESS, probe_amo, s1
2:
  la s1, probe_ret
  PROBE_OK 43, PRIV_U, probe_fetch

  /* ---- misaligned load and store: either done in full (tabvm) or address-misaligned / access
   * fault with mtval = the address (an execution environment may choose, unprivileged §2.6) */
  la s1, misaligned_buf
  addi s1, s1, 1
  RUN_PROBE PRIV_M, probe_load
  TRAP_FIELD t0, TR_COUNT
  beqz t0, 1f
  la s4, probe_load
  EXPECT_TRAP_EITHER_R 44, PRIV_M, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, s4, s1
  j 2f
1:
  li t1, 0x0807060504030201
  CHECK_EQ 45, s3, t1
2:
  la s1, misaligned_buf
  addi s1, s1, 3
  li s2, 0x1122334455667788
  RUN_PROBE PRIV_M, probe_store
  la s4, misaligned_buf
  ld s5, 0(s4)
  ld s6, 8(s4)
  TRAP_FIELD t0, TR_COUNT
  beqz t0, 1f
  la s4, probe_store
  EXPECT_TRAP_EITHER_R 46, PRIV_M, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, s4, s1
  li t1, 0x0706050403020100
  CHECK_EQ 47, s5, t1
  li t1, 0x0f0e0d0c0b0a0908
  CHECK_EQ 48, s6, t1
  j 2f
1:
  li t1, 0x4455667788020100
  CHECK_EQ 49, s5, t1
  li t1, 0x0f0e0d0c0b112233
  CHECK_EQ 50, s6, t1
2:

  /* ---- medeleg: delegated exceptions from S and U go to the S handler with scause/sepc/stval;
   * the same exception in M stays in M ("traps never transition to a less-privileged mode") */
  li s4, (1 << CAUSE_USER_ECALL) | (1 << CAUSE_ILLEGAL_INSTRUCTION) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_LOAD_ACCESS)
  csrw medeleg, s4
  csrr t0, medeleg
  and t0, t0, s4
  CHECK_EQ 51, t0, s4

  CLEAR_TRAP
  ENTER PRIV_U
  li a7, 0
1:
  ecall
  RETURN_TO_M
  EXPECT_TRAP 52, PRIV_S, CAUSE_USER_ECALL, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 53, t0, MSTATUS_SPP, 0

  li t0, MSTATUS_SIE
  csrs mstatus, t0            /* sie = 0: nothing can interrupt */
  CLEAR_TRAP
  ENTER PRIV_S
1:
  csrr t0, mstatus
  RETURN_TO_M
  EXPECT_ILLEGAL 54, PRIV_S, 1b
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 55, t0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE
  li t0, MSTATUS_SIE
  csrc mstatus, t0

  CLEAR_TRAP
  ENTER PRIV_S
  .option push
  .option norvc
1:
  ebreak
  .option pop
  RETURN_TO_M
  EXPECT_TRAP_ANY_TVAL 56, PRIV_S, CAUSE_BREAKPOINT, 1b

  li s1, UNMAPPED_ADDR + 0x300
  RUN_PROBE PRIV_U, probe_load
  EXPECT_TRAP 57, PRIV_S, CAUSE_LOAD_ACCESS, probe_load, s1

  CLEAR_TRAP
1:
  .word 0xfedcb06b
  EXPECT_ILLEGAL 58, PRIV_M, 1b

  csrw medeleg, zero

  /* ---- mret: MIE = MPIE, MPIE = 1, MPP = U (the least-privileged mode, §3.3.2) */
  li t0, MSTATUS_MPP | MSTATUS_MPIE
  csrs mstatus, t0
  csrci mstatus, MSTATUS_MIE
  la t0, 1f
  csrw mepc, t0
  mret
1:
  csrr t0, mstatus
  csrci mstatus, MSTATUS_MIE
  CHECK_BITS 59, t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MIE | MSTATUS_MPIE

  li t0, MSTATUS_MPP
  csrs mstatus, t0
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  csrsi mstatus, MSTATUS_MIE
  la t0, 1f
  csrw mepc, t0
  mret
1:
  csrr t0, mstatus
  CHECK_BITS 60, t0, MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE

  /* an mret to a mode below M clears MPRV (§3.1.6.3) */
  CLEAR_TRAP
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  ENTER PRIV_S
  li a7, 0
1:
  ecall
  RETURN_TO_M
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  EXPECT_TRAP 61, PRIV_M, CAUSE_SUPERVISOR_ECALL, 1b, zero
  /* QEMU 7.2 does not clear MPRV on mret yet (QEMU 8.0 does) */
  QEMU7_SKIP 1f
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 62, t0, MSTATUS_MPRV, 0
1:

  /* ---- sret in S: SIE = SPIE, SPIE = 1, SPP = U; to S, then to U */
  CLEAR_TRAP
  ENTER PRIV_S
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrs sstatus, t0
  csrci sstatus, MSTATUS_SIE
  la t0, 1f
  csrw sepc, t0
  sret
1:
  csrr t0, sstatus
  CHECK_BITS 63, t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE
  li a7, 0
2:
  ecall                       /* still in S: cause 9 */
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrc sstatus, t0
  csrsi sstatus, MSTATUS_SIE
  la t0, 3f
  csrw sepc, t0
  sret
3:
  li a7, 0
4:
  ecall                       /* in U: cause 8 */
  RETURN_TO_M
  TRAP_FIELD t0, TR_COUNT
  CHECK_EQI 64, t0, 2
  TRAP_FIELD t0, TR_FIRST_CAUSE
  CHECK_EQI 65, t0, CAUSE_SUPERVISOR_ECALL
  TRAP_FIELD t0, TR_CAUSE
  CHECK_EQI 66, t0, CAUSE_USER_ECALL
  la t0, 4b
  TRAP_FIELD t1, TR_EPC
  CHECK_EQ 67, t0, t1
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 68, t0, MSTATUS_SIE | MSTATUS_SPIE, MSTATUS_SPIE

  /* ---- WARL fields: mepc/sepc bit 0 is always 0 (IALIGN = 16, §3.1.14); QEMU 7.2 keeps the bit */
  QEMU7_SKIP 1f
  li t0, 0x80000001
  csrw mepc, t0
  csrr t1, mepc
  andi t1, t1, 1
  CHECK_EQ 69, t1, zero
  csrw sepc, t0
  csrr t1, sepc
  andi t1, t1, 1
  CHECK_EQ 70, t1, zero
1:

  /* MPP never holds the reserved encoding 2 (§3.1.6.1; MPP is WARL); QEMU 7.2 keeps a 2 */
  QEMU7_SKIP 1f
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, 2 << MSTATUS_MPP_SHIFT
  csrs mstatus, t0
  csrr t1, mstatus
  li t2, MSTATUS_MPP
  and t1, t1, t2
  CHECK_NE 71, t1, t0
1:
  li t0, MSTATUS_MPP
  csrc mstatus, t0

  PASS

  .data
  .balign 16
misaligned_buf:
  .byte 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
