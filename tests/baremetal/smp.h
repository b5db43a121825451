/*
 * Definitions for the multi-hart bare-metal programs (smp-*.S, built into bin/smp/ and run with two harts:
 * `npm run vm -- --smp 2 --bios bin/smp/X.elf`, `qemu-system-riscv64 -machine virt -smp 2 -bios ...`).
 * They do not use harness.S, whose _start parks every hart but hart 0: each hart starts at _start with
 * a0 = mhartid and takes its own path. Hart 0 alone ends the program: tohost = 1 (pass) or
 * (code << 1) | 1 (fail with code), then the SiFive test finisher, as harness.h describes. Another hart
 * that finds a fault stores its code in `smp_fail` and tells hart 0, which fails with it.
 *
 * Only 4-byte instructions (no C extension), so the code that smp-fencei.S writes is easy to encode.
 */
#ifndef TABVM_BAREMETAL_SMP_H
#define TABVM_BAREMETAL_SMP_H

#include "harness.h"

/* Each hart's msip word in the CLINT (4 bytes per hart) */
#define CLINT_MSIP_HART(n) (CLINT_MSIP + 4 * (n))
/* mtime counts at 10 MHz on the virt board */
#define MTIME_HZ 10000000
/* How long hart 0 waits for another hart before it fails: 60 s of guest time, far more than needed
 * even on a loaded host. */
#define SMP_TIMEOUT_TICKS (60 * MTIME_HZ)

#ifdef __ASSEMBLER__

/* _start: every hart with its M-mode interrupts off; hart 0 goes to `hart0`, hart 1 to `hart1`, and any
 * other hart parks. */
.macro SMP_ENTRY
  .option norvc
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  csrw mie, zero
  csrw mstatus, zero
  csrr a0, mhartid
  beqz a0, hart0
  li t0, 1
  beq a0, t0, hart1
  j smp_park
.endm

/* Hart 1: tells hart 0 it is ready (sets the word `hart1_ready`; clobbers t0, t1). */
.macro HART1_READY
  la t0, hart1_ready
  li t1, 1
  fence
  sd t1, 0(t0)
.endm

/* Hart 0: enables its IPI (mie.MSIE) and waits for HART1_READY, failing with \n after the deadline,
 * which it leaves in \deadline (clobbers t0, t6). */
.macro WAIT_HART1_READY n, deadline
  li t0, MIP_MSIP
  csrw mie, t0
  DEADLINE \deadline
.Lpoll\@:
  la t0, hart1_ready
  ld t0, 0(t0)
  bnez t0, .Lready\@
  CHECK_DEADLINE \n, \deadline
  j .Lpoll\@
.Lready\@:
.endm

/* \reg = mtime + SMP_TIMEOUT_TICKS (clobbers t6) */
.macro DEADLINE reg
  READ_MTIME \reg
  li t6, SMP_TIMEOUT_TICKS
  add \reg, \reg, t6
.endm

/* Fails with \n once mtime passes the deadline in \deadline (clobbers t6). */
.macro CHECK_DEADLINE n, deadline
  READ_MTIME t6
  bltu t6, \deadline, .Lin_time\@
  li a0, \n
  j smp_exit
.Lin_time\@:
.endm

/* Hart 0: fails with \n unless \a == \b */
.macro CHECK_EQ_HART0 n, a, b
  beq \a, \b, .Lequal\@
  li a0, \n
  j smp_exit
.Lequal\@:
.endm

/* Fails with \n (hart 0) */
.macro SMP_FAIL n
  li a0, \n
  j smp_exit
.endm

/* Another hart: records fail code \n and sends hart 0 an IPI, then stops (clobbers t5, t6). */
.macro SECONDARY_FAIL n
  li t6, \n
  la t5, smp_fail
  sd t6, 0(t5)
  fence
  li t5, CLINT_MSIP_HART(0)
  li t6, 1
  sw t6, 0(t5)
  j smp_park
.endm

/* Sets hart \hart's msip (an IPI; clobbers t5, t6). */
.macro SEND_IPI hart
  li t5, CLINT_MSIP_HART(\hart)
  li t6, 1
  sw t6, 0(t5)
.endm

/* Clears this hart's msip (hart \hart) and waits until mip.MSIP follows (clobbers t5, t6). */
.macro ACK_IPI hart
  li t5, CLINT_MSIP_HART(\hart)
  sw zero, 0(t5)
.Lwait\@:
  csrr t6, mip
  andi t6, t6, MIP_MSIP
  bnez t6, .Lwait\@
.endm

/*
 * Sleeps in WFI until mip.MSIP is set (WFI may also return for no reason: privileged spec §3.3.3 lets an
 * implementation "always implement WFI as a NOP", so the loop checks mip); with a deadline in register
 * \deadline, fails with \n after it (hart 0 only). Needs mie.MSIE = 1 to wake; mstatus.MIE = 0, so no trap.
 */
.macro WAIT_IPI n, deadline
.Lsleep\@:
  wfi
  csrr t6, mip
  andi t6, t6, MIP_MSIP
  bnez t6, .Lwoken\@
  CHECK_DEADLINE \n, \deadline
  j .Lsleep\@
.Lwoken\@:
.endm

/* The end of the program, reporting and the shared words: one instance per program. */
.macro SMP_COMMON
  .balign 4
/* hart 0: a0 = 0 (pass) or the fail code */
smp_exit:
  mv s0, a0
  la a0, smp_msg_prefix
  jal ra, smp_puts
  la a0, test_name
  jal ra, smp_puts
  la a0, smp_msg_pass
  beqz s0, 1f
  la a0, smp_msg_fail
  jal ra, smp_puts
  mv a0, s0
  jal ra, smp_putdec
  la a0, smp_msg_newline
1:
  jal ra, smp_puts
  EXIT_WITH s0
smp_park:
  wfi
  j smp_park

/* a0 = NUL-ended string (clobbers a0, t0, t1, t2, t6, a1) */
smp_puts:
  mv t2, ra
  mv a1, a0
1:
  lbu a0, 0(a1)
  beqz a0, 2f
  jal ra, smp_putc
  addi a1, a1, 1
  j 1b
2:
  mv ra, t2
  ret

/* a0 = unsigned value, printed in decimal (clobbers a0-a3, t0, t1, t2, t6) */
smp_putdec:
  mv t2, ra
  li a2, 1
  li a3, 10
1:
  /* a2 = the largest power of 10 not above a0 (at least 1) */
  divu t0, a0, a2
  bltu t0, a3, 2f
  mul a2, a2, a3
  j 1b
2:
  mv a1, a0
3:
  divu a0, a1, a2
  remu a1, a1, a2
  addi a0, a0, '0'
  jal ra, smp_putc
  divu a2, a2, a3
  bnez a2, 3b
  mv ra, t2
  ret

/* a0 = byte; waits (boundedly) for the 16550's transmitter holding register to be empty */
smp_putc:
  li t0, UART0_BASE
  li t1, 10000
1:
  lbu t6, 5(t0)
  andi t6, t6, 0x20
  bnez t6, 2f
  addi t1, t1, -1
  bnez t1, 1b
2:
  sb a0, 0(t0)
  ret

  .section .rodata
smp_msg_prefix: .asciz "tabvm-baremetal "
smp_msg_pass: .asciz ": PASS\n"
smp_msg_fail: .asciz ": FAIL "
smp_msg_newline: .asciz "\n"

  .section .data
  .balign 64
  .globl smp_fail
smp_fail: .dword 0

  TOHOST_WORDS
.endm

#endif /* __ASSEMBLER__ */
#endif /* TABVM_BAREMETAL_SMP_H */
