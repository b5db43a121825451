/*
 * Interrupts (privileged spec 1.12 §3.1.9, §3.3.3; the CLINT of QEMU's virt board): mtime and the
 * time CSR; mtimecmp raising MTIP and a machine timer interrupt; msip raising MSIP; masking by
 * mstatus.MIE in M but not below M; priority; mideleg delegation of STIP (written by M) and SSIP;
 * WFI waking on a pending interrupt; vectored mtvec.
 *
 * "These conditions for an interrupt trap to occur must be evaluated in a bounded amount of time from
 * when an interrupt becomes, or ceases to be, pending in mip, and must also be evaluated immediately
 * following the execution of an xRET instruction or an explicit write to a CSR on which these
 * interrupt trap conditions expressly depend" (§3.1.9). So an interrupt that is already pending is
 * taken at exactly the instruction after the CSR write or xRET that enables it (checked via xepc),
 * while a change of a device's level is only awaited (polled) with a bound.
 */
#include "harness.h"

  TEST_NAME interrupts

/* a bound on polling loops: enough for a slow interpreter to see a 10 MHz mtime move a lot */
#define POLL_LIMIT 2000000

/* spin until (mip & \mask) == \value, failing \n after POLL_LIMIT reads */
.macro WAIT_MIP n, mask, value
  li t2, POLL_LIMIT
.Lpoll\@:
  csrr t0, mip
  li t1, \mask
  and t0, t0, t1
  li t1, \value
  beq t0, t1, .Ldone\@
  addi t2, t2, -1
  bnez t2, .Lpoll\@
  FAIL \n
.Ldone\@:
.endm

.macro SET_MSIP value
  li t0, CLINT_MSIP
  li t1, \value
  sw t1, 0(t0)
.endm

/* mtimecmp = mtime + \delta */
.macro TIMER_IN delta
  READ_MTIME t0
  li t1, \delta
  add t0, t0, t1
  SET_MTIMECMP t0
.endm

.macro TIMER_OFF
  li t0, -1
  SET_MTIMECMP t0
.endm

  .text
  .globl test_main
test_main:
  li a7, 0
  TIMER_OFF
  SET_MSIP 0

  /* ---- mtime runs, and the time CSR reads it */
  READ_MTIME s1
  li t0, 100000
1:
  addi t0, t0, -1
  bnez t0, 1b
  READ_MTIME s2
  bgtu s2, s1, 1f
  FAIL 1
1:
  READ_MTIME s1
  rdtime s2
  READ_MTIME s3
  bgeu s2, s1, 1f
  FAIL 2
1:
  bgeu s3, s2, 1f
  FAIL 3
1:

  /* ---- machine timer: MTIP follows mtime >= mtimecmp; it is read-only in mip */
  WAIT_MIP 4, MIP_MTIP, 0
  CLEAR_TRAP
  li t0, MIP_MTIP
  csrs mie, t0
  READ_MTIME s1
  li t0, 2000
  add s1, s1, t0
  SET_MTIMECMP s1
  WAIT_MIP 5, MIP_MTIP, MIP_MTIP
  READ_MTIME s2
  bgeu s2, s1, 1f
  FAIL 6                      /* MTIP before mtime reached mtimecmp */
1:
  EXPECT_NO_TRAP 7            /* mstatus.MIE = 0 masks it in M */
  li t0, MIP_MTIP
  csrc mip, t0
  csrr t0, mip
  CHECK_BITS 8, t0, MIP_MTIP, MIP_MTIP

  CLEAR_TRAP
  csrsi mstatus, MSTATUS_MIE
1:
  nop
  csrci mstatus, MSTATUS_MIE
  EXPECT_TRAP 9, PRIV_M, INTERRUPT_BIT | IRQ_M_TIMER, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 10, t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | (PRIV_M << MSTATUS_MPP_SHIFT)
  csrr t0, mip
  CHECK_BITS 11, t0, MIP_MTIP, MIP_MTIP   /* still pending: only a new mtimecmp clears it */
  TIMER_OFF
  WAIT_MIP 12, MIP_MTIP, 0

  /* ---- machine software interrupt through the CLINT's msip */
  SET_MSIP 1
  WAIT_MIP 13, MIP_MSIP, MIP_MSIP
  li t0, MIP_MSIP
  csrs mie, t0
  CLEAR_TRAP
  csrsi mstatus, MSTATUS_MIE
1:
  nop
  csrci mstatus, MSTATUS_MIE
  EXPECT_TRAP 14, PRIV_M, INTERRUPT_BIT | IRQ_M_SOFT, 1b, zero
  SET_MSIP 0
  WAIT_MIP 15, MIP_MSIP, 0

  /* ---- masked in M by MIE = 0, but always enabled below M: taken at the first S instruction */
  SET_MSIP 1
  WAIT_MIP 16, MIP_MSIP, MIP_MSIP
  li t0, MIP_MSIP
  csrs mie, t0
  CLEAR_TRAP
  nop
  nop
  EXPECT_NO_TRAP 17
  CLEAR_TRAP
  li t0, MSTATUS_MPIE
  csrc mstatus, t0            /* so S runs with mstatus.MIE = 0 too */
  GOTO_MODE PRIV_S, 1f
1:
  RETURN_TO_M
  EXPECT_TRAP 18, PRIV_M, INTERRUPT_BIT | IRQ_M_SOFT, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 19, t0, MSTATUS_MPP, (PRIV_S << MSTATUS_MPP_SHIFT)
  SET_MSIP 0
  WAIT_MIP 20, MIP_MSIP, 0

  /* ---- priority: MSI before MTI when both are pending (§3.1.9) */
  SET_MSIP 1
  li t0, 0
  SET_MTIMECMP t0
  WAIT_MIP 21, MIP_MSIP | MIP_MTIP, MIP_MSIP | MIP_MTIP
  li t0, MIP_MSIP | MIP_MTIP
  csrs mie, t0
  CLEAR_TRAP
  csrsi mstatus, MSTATUS_MIE
  nop
  nop
  csrci mstatus, MSTATUS_MIE
  TRAP_FIELD t0, TR_COUNT
  CHECK_EQI 22, t0, 2
  TRAP_FIELD t0, TR_FIRST_CAUSE
  CHECK_EQI 23, t0, INTERRUPT_BIT | IRQ_M_SOFT
  TRAP_FIELD t0, TR_CAUSE
  CHECK_EQI 24, t0, INTERRUPT_BIT | IRQ_M_TIMER
  SET_MSIP 0
  TIMER_OFF
  WAIT_MIP 25, MIP_MSIP | MIP_MTIP, 0

  /* ---- mideleg: STIP and SSIP can be delegated */
  li s4, MIP_SSIP | MIP_STIP
  csrw mideleg, s4
  csrr t0, mideleg
  and t0, t0, s4
  CHECK_EQ 26, t0, s4

  /* STIP written by M; a delegated interrupt is never taken in M (S is lower) */
  li t0, MIP_STIP
  csrs mip, t0
  csrs mie, t0
  csrr t0, sip
  CHECK_BITS 27, t0, MIP_STIP, MIP_STIP
  CLEAR_TRAP
  csrsi mstatus, MSTATUS_MIE
  nop
  nop
  csrci mstatus, MSTATUS_MIE
  EXPECT_NO_TRAP 28

  /* in S: masked by sstatus.SIE = 0, taken at the instruction after SIE is set */
  li t0, MSTATUS_SIE
  csrc mstatus, t0
  CLEAR_TRAP
  ENTER PRIV_S
  nop
  nop
  csrsi sstatus, MSTATUS_SIE
1:
  nop
  csrci sstatus, MSTATUS_SIE
  csrr t0, sip
  CHECK_BITS 29, t0, MIP_STIP, MIP_STIP   /* still pending */
  li t0, MIP_STIP
  csrc sip, t0                            /* STIP is read-only in sip */
  csrr t0, sip
  CHECK_BITS 30, t0, MIP_STIP, MIP_STIP
  RETURN_TO_M
  EXPECT_TRAP 31, PRIV_S, INTERRUPT_BIT | IRQ_S_TIMER, 1b, zero
  csrr t0, mie
  CHECK_BITS 32, t0, MIP_STIP, 0          /* the S handler cleared sie.STIE, which is mie.STIE */

  /* in U: taken whatever sstatus.SIE says */
  li t0, MIP_STIP
  csrs mie, t0
  li t0, MSTATUS_SIE
  csrc mstatus, t0
  CLEAR_TRAP
  GOTO_MODE PRIV_U, 1f
  .balign 4
1:
  RETURN_TO_M
  EXPECT_TRAP 33, PRIV_S, INTERRUPT_BIT | IRQ_S_TIMER, 1b, zero
  TRAP_FIELD t0, TR_STATUS
  CHECK_BITS 34, t0, MSTATUS_SPP, 0

  /* not delegated: the same interrupt traps to M from S */
  csrw mideleg, zero
  li t0, MIP_STIP
  csrs mie, t0
  CLEAR_TRAP
  GOTO_MODE PRIV_S, 1f
1:
  RETURN_TO_M
  EXPECT_TRAP 35, PRIV_M, INTERRUPT_BIT | IRQ_S_TIMER, 1b, zero
  li t0, MIP_STIP
  csrc mip, t0
  csrr t0, mip
  CHECK_BITS 36, t0, MIP_STIP, 0

  /* SSIP set by S itself through sip, delegated: taken right after the write */
  csrw mideleg, s4
  li t0, MIP_SSIP
  csrs mie, t0
  CLEAR_TRAP
  ENTER PRIV_S
  csrsi sstatus, MSTATUS_SIE
  csrsi sip, MIP_SSIP
1:
  csrci sstatus, MSTATUS_SIE
  csrci sip, MIP_SSIP
  csrr t0, sip
  CHECK_BITS 37, t0, MIP_SSIP, 0
  RETURN_TO_M
  EXPECT_TRAP 38, PRIV_S, INTERRUPT_BIT | IRQ_S_SOFT, 1b, zero
  csrw mideleg, zero

  /* ---- WFI with mstatus.MIE = 0 resumes when an enabled interrupt becomes pending, without a trap
   * (§3.3.3: "WFI is also required to resume execution for locally enabled interrupts pending at any
   * privilege level, regardless of the global interrupt enable at each privilege level") */
  csrw mie, zero
  li t0, MIP_MTIP
  csrs mie, t0
  CLEAR_TRAP
  READ_MTIME s1
  li t0, 5000
  add s1, s1, t0
  SET_MTIMECMP s1
  li s2, POLL_LIMIT
1:
  wfi
  csrr t0, mip
  andi t0, t0, MIP_MTIP
  bnez t0, 2f
  addi s2, s2, -1
  bnez s2, 1b
  FAIL 39
2:
  READ_MTIME s2
  bgeu s2, s1, 1f
  FAIL 40
1:
  EXPECT_NO_TRAP 41

  /* WFI with MIE = 1: the interrupt is taken in the loop around the WFI (xepc inside it) */
  TIMER_IN 5000
  CLEAR_TRAP
  csrsi mstatus, MSTATUS_MIE
1:
  wfi
  TRAP_FIELD t0, TR_COUNT
  beqz t0, 1b
2:
  csrci mstatus, MSTATUS_MIE
  TRAP_FIELD t0, TR_CAUSE
  CHECK_EQI 42, t0, INTERRUPT_BIT | IRQ_M_TIMER
  TRAP_FIELD t0, TR_EPC
  la t1, 1b
  la t2, 2b
  bltu t0, t1, 3f
  bltu t0, t2, 4f
3:
  FAIL 43
4:
  TIMER_OFF
  WAIT_MIP 44, MIP_MTIP, 0

  /* ---- vectored mtvec (MODE = 1 is optional): interrupts go to BASE + 4 * cause, exceptions to BASE */
  la t0, vector_table
  ori t0, t0, 1
  csrw mtvec, t0
  csrr t1, mtvec
  bne t0, t1, 5f              /* vectored mode not implemented: nothing more to check */
  la t0, vectored_cause
  sd zero, 0(t0)
  SET_MSIP 1
  WAIT_MIP 45, MIP_MSIP, MIP_MSIP
  li t0, MIP_MSIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  la t0, vectored_cause
  ld t0, 0(t0)
  CHECK_EQI 46, t0, INTERRUPT_BIT | IRQ_M_SOFT
  CLEAR_TRAP
  li a7, 0
1:
  ecall
  EXPECT_TRAP 47, PRIV_M, CAUSE_MACHINE_ECALL, 1b, zero
5:
  la t0, m_trap_vector
  csrw mtvec, t0

  PASS

/* Vectored entry for the machine software interrupt: note the cause, lower msip, return. */
  .balign 4
vectored_msi:
  csrrw sp, mscratch, sp
  sd t0, 0(sp)
  sd t1, 8(sp)
  csrr t0, mcause
  la t1, vectored_cause
  sd t0, 0(t1)
  li t0, CLINT_MSIP
  sw zero, 0(t0)
  li t0, MIP_MSIP
  csrc mie, t0
  ld t0, 0(sp)
  ld t1, 8(sp)
  csrrw sp, mscratch, sp
  mret

  .balign 256
vector_table:
  .option push
  .option norvc
  j m_trap_vector             /* exceptions, and cause 0 */
  j m_trap_vector
  j m_trap_vector
  j vectored_msi              /* 3: machine software interrupt */
  .rept 12
  j m_trap_vector
  .endr
  .option pop

  .data
  .balign 8
vectored_cause:
  .dword 0
