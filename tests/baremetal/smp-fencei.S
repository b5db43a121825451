/*
 * A remote FENCE.I (two harts: smp.h). Hart 0 rewrites code that hart 1 runs; hart 1 runs the new code
 * after an IPI and a FENCE.I of its own.
 *
 * Unprivileged spec, "Zifencei": "FENCE.I does not ensure that other RISC-V harts' instruction fetches
 * will observe the local hart's stores in a multiprocessor system. To make a store to instruction memory
 * visible to all RISC-V harts, the writing hart also has to execute a data FENCE before requesting that
 * all remote RISC-V harts execute a FENCE.I." That is what Linux does through SBI RFENCE (docs/harts.md).
 *
 * `patch` is `addi a0, zero, V; ret`. Hart 1 first calls it RUNS times (returning 1), more than tabvm's
 * JIT threshold, so that its JIT has translated it (at any threshold). Then, for V = 2 .. VERSIONS + 1:
 * hart 0 stores the new addi, executes FENCE, runs its own FENCE.I and checks the new code itself, and
 * sets hart 1's msip; hart 1 wakes from WFI, clears its msip, executes FENCE.I and calls `patch` RUNS
 * times, each of which must return V, stores V in hart1_seen and sets hart 0's msip. Hart 0 checks that
 * hart 1 saw V.
 */
#include "smp.h"

#define RUNS 2000
#define VERSIONS 8
/* addi a0, zero, imm (I-type: imm[11:0] rs1=0 funct3=0 rd=10 opcode=0x13) */
#define ADDI_A0(imm) (((imm) << 20) | (10 << 7) | 0x13)

  TEST_NAME smp-fencei
  SMP_ENTRY

/* Calls `patch` RUNS times; fails (hart 1) with \n unless every call returns s2. */
.macro RUN_PATCH n
  li s3, RUNS
.Lrun\@:
  la t0, patch
  jalr ra, 0(t0)
  beq a0, s2, .Lok\@
  SECONDARY_FAIL \n
.Lok\@:
  addi s3, s3, -1
  bnez s3, .Lrun\@
.endm

/* --- hart 1 ----------------------------------------------------------------------------------------- */
hart1:
  li t0, MIP_MSIP
  csrw mie, t0
  li s2, 1
  RUN_PATCH 20
  HART1_READY
1:
  wfi
  csrr t0, mip
  andi t0, t0, MIP_MSIP
  beqz t0, 1b
  ACK_IPI 1
  fence.i
  addi s2, s2, 1
  RUN_PATCH 21
  la t0, hart1_seen
  sd s2, 0(t0)
  fence
  SEND_IPI 0
  j 1b

/* --- hart 0 ----------------------------------------------------------------------------------------- */
hart0:
  WAIT_HART1_READY 1, s0
  li s1, 2
3:
  /* the new version: addi a0, zero, s1 */
  slli t0, s1, 20
  li t1, ADDI_A0(0)
  or t0, t0, t1
  la t1, patch
  sw t0, 0(t1)
  fence
  fence.i
  jalr ra, 0(t1)
  CHECK_EQ_HART0 2, a0, s1
  SEND_IPI 1
  WAIT_IPI 3, s0
  ACK_IPI 0
  fence
  la t0, smp_fail
  ld a0, 0(t0)
  bnez a0, smp_exit
  la t0, hart1_seen
  ld t0, 0(t0)
  CHECK_EQ_HART0 4, t0, s1
  addi s1, s1, 1
  li t0, VERSIONS + 2
  bltu s1, t0, 3b
  li a0, 0
  j smp_exit

  SMP_COMMON

  /* the code both harts run, in a page of its own */
  .section .text
  .balign 4096
patch:
  addi a0, zero, 1
  ret

  .section .data
  .balign 64
hart1_ready: .dword 0
  .balign 64
hart1_seen: .dword 0
