/*
 * IPIs between two harts through the CLINT's msip words (two harts: smp.h).
 *
 * Privileged spec §3.1.9: "MSIP is read-only in mip, and is written by accesses to memory-mapped
 * control registers, which are used by remote harts to provide machine-level interprocessor
 * interrupts"; §3.3.3: WFI resumes "if an enabled interrupt is present or later becomes present while
 * the hart is stalled ... regardless of the global interrupt enable", so a hart with mie.MSIE = 1 and
 * mstatus.MIE = 0 wakes from WFI on an IPI without taking a trap.
 *
 * 1. Ping-pong from WFI, ROUNDS times: hart 0 sets hart 1's msip and sleeps in WFI; hart 1, asleep in
 *    WFI, wakes, clears its msip, counts the wake-up and sets hart 0's msip. Hart 0 checks after each
 *    round that hart 1 counted exactly one more wake-up.
 * 2. Ping-pong into a busy hart, BUSY_ROUNDS times: hart 1 runs a loop with mstatus.MIE = 1 and takes
 *    each IPI as a machine software interrupt (mcause = interrupt 3); its handler answers as above.
 *    This measures how soon a running hart takes an interrupt raised from another thread.
 *
 * Hart 0 prints "smp-ipi: wfi R round trips in T ticks, busy R' round trips in T' ticks" (mtime ticks,
 * 10 MHz) before it passes: tests/baremetal.test.ts reports the figures.
 */
#include "smp.h"

#define ROUNDS 1000
#define BUSY_ROUNDS 200

  TEST_NAME smp-ipi
  SMP_ENTRY

/* --- hart 1 ----------------------------------------------------------------------------------------- */
hart1:
  li t0, MIP_MSIP
  csrw mie, t0
  HART1_READY
  la s0, hart1_wakes
1:
  /* phase 1: asleep until an IPI (no deadline: hart 0 keeps time) */
  wfi
  csrr t0, mip
  andi t0, t0, MIP_MSIP
  beqz t0, 1b
  ACK_IPI 1
  la t0, phase
  ld t0, 0(t0)
  bnez t0, hart1_busy
  ld t0, 0(s0)
  addi t0, t0, 1
  sd t0, 0(s0)
  fence
  SEND_IPI 0
  j 1b

hart1_busy:
  /* phase 2: take each IPI as an interrupt while running */
  la t0, hart1_trap
  csrw mtvec, t0
  li s1, 0
  li t0, MSTATUS_MIE
  csrs mstatus, t0
  SEND_IPI 0              /* "ready for phase 2" */
2:
  addi s1, s1, 1          /* the handler uses only t0, t1, t5, t6 */
  j 2b

  .balign 4
hart1_trap:
  csrr t0, mcause
  li t1, INTERRUPT_BIT | IRQ_M_SOFT
  bne t0, t1, 8f
  ACK_IPI 1
  la t0, hart1_interrupts
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  fence
  SEND_IPI 0
  mret
8:
  SECONDARY_FAIL 11

/* --- hart 0 ----------------------------------------------------------------------------------------- */
hart0:
  WAIT_HART1_READY 1, s0
  fence
  /* 1: from WFI to WFI */
  READ_MTIME s2
  li s1, 0
3:
  SEND_IPI 1
  WAIT_IPI 2, s0
  ACK_IPI 0
  fence
  la t0, smp_fail
  ld a0, 0(t0)
  bnez a0, smp_exit
  la t0, hart1_wakes
  ld t0, 0(t0)
  addi s1, s1, 1
  CHECK_EQ_HART0 3, t0, s1
  li t0, ROUNDS
  bltu s1, t0, 3b
  READ_MTIME s3
  sub s3, s3, s2

  /* 2: into a running hart */
  la t0, phase
  li t1, 1
  sd t1, 0(t0)
  fence
  SEND_IPI 1
  WAIT_IPI 4, s0          /* hart 1 is in its loop with interrupts on */
  ACK_IPI 0
  READ_MTIME s4
  li s1, 0
4:
  SEND_IPI 1
  WAIT_IPI 5, s0
  ACK_IPI 0
  fence
  la t0, smp_fail
  ld a0, 0(t0)
  bnez a0, smp_exit
  la t0, hart1_interrupts
  ld t0, 0(t0)
  addi s1, s1, 1
  CHECK_EQ_HART0 6, t0, s1
  li t0, BUSY_ROUNDS
  bltu s1, t0, 4b
  READ_MTIME s5
  sub s5, s5, s4

  la a0, msg_wfi
  jal ra, smp_puts
  li a0, ROUNDS
  jal ra, smp_putdec
  la a0, msg_in
  jal ra, smp_puts
  mv a0, s3
  jal ra, smp_putdec
  la a0, msg_busy
  jal ra, smp_puts
  li a0, BUSY_ROUNDS
  jal ra, smp_putdec
  la a0, msg_in
  jal ra, smp_puts
  mv a0, s5
  jal ra, smp_putdec
  la a0, msg_ticks
  jal ra, smp_puts
  li a0, 0
  j smp_exit

  SMP_COMMON

  .section .rodata
msg_wfi: .asciz "smp-ipi: wfi "
msg_busy: .asciz " ticks, busy "
msg_in: .asciz " round trips in "
msg_ticks: .asciz " ticks\n"

  .section .data
  .balign 64
hart1_ready: .dword 0
  .balign 64
hart1_wakes: .dword 0
  .balign 64
hart1_interrupts: .dword 0
  .balign 64
phase: .dword 0
