/*
 * Start-up, trap handlers and reporting shared by every bare-metal test (see harness.h).
 *
 * _start (M-mode, 0x8000_0000): parks every hart but hart 0, installs the M and S trap vectors, opens
 * PMP entry 15 to all of memory for S and U (with PMP implemented and no matching entry, S/U accesses
 * fail, §3.7.1), clears .bss and jumps to test_main, which ends with PASS or FAIL.
 *
 * Both trap vectors record the trap in trap_record (a trap that CLEAR_TRAP did not arm fails the
 * program: harness.h) and then:
 *   - harness ecalls (a7 = HARNESS_ECALL_*): continue in M-mode at a0, or stop with fail code a0;
 *     the S handler forwards them to M with an ecall of its own;
 *   - interrupts: clear the interrupt's enable bit in mie/sie (so it does not fire again) and return
 *     to the interrupted instruction;
 *   - exceptions: continue at trap_record.resume in M-mode if the test set it; else after a fetch fault
 *     return to ra (the faulting jump's link); else step over the faulting instruction (2 or 4 bytes,
 *     read at xepc: the tests keep trapping code at identical virtual and physical addresses).
 */
#include "harness.h"

  .section .text.init, "ax", @progbits
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, park

  la t0, m_trap_vector
  csrw mtvec, t0
  la t0, m_save_area
  csrw mscratch, t0
  la t0, s_trap_vector
  csrw stvec, t0
  la t0, s_save_area
  csrw sscratch, t0
  la sp, stack_top

  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw satp, zero
  csrw mstatus, zero
  csrw mcounteren, zero
  csrw scounteren, zero

  /* S and U may use all memory: entry 15 (lowest priority) is a NAPOT region over the whole space. */
  csrw pmpcfg0, zero
  li t0, -1
  csrw pmpaddr15, t0
  li t0, (PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 56
  csrw pmpcfg2, t0
  sfence.vma

  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  /* QEMU 7.x identifies itself with mvendorid = 0 and marchid = its version (0x07MMmm); tabvm's
   * marchid is 0. The tests excuse a few known QEMU 7.2 deviations from privileged spec 1.12 only
   * when this is set (see QEMU7_SKIP in harness.h), so tabvm is always held to the spec. */
  csrr t0, mvendorid
  bnez t0, 3f
  csrr t0, marchid
  srli t0, t0, 16
  addi t0, t0, -7
  bnez t0, 3f
  li t0, 1
  la t1, harness_qemu7
  sd t0, 0(t1)
3:
  CLEAR_TRAP
  DISARM_TRAP
  /* a jump, not a call: the probes use ra; a test ends with PASS */
  j test_main

park:
  wfi
  j park

/* ------------------------------------------------------------------------------------------------ */

  .text
  .balign 4
  .globl m_trap_vector
m_trap_vector:
  csrrw sp, mscratch, sp
  sd t0, 0(sp)
  sd t1, 8(sp)
  sd t2, 16(sp)
  sd t3, 24(sp)
  csrr t0, mcause
  bltz t0, m_record
  li t1, CAUSE_USER_ECALL
  beq t0, t1, m_ecall
  li t1, CAUSE_SUPERVISOR_ECALL
  beq t0, t1, m_ecall
  li t1, CAUSE_MACHINE_ECALL
  beq t0, t1, m_ecall
  j m_record
m_ecall:
  li t1, HARNESS_ECALL_TO_M
  beq a7, t1, m_to_m
  li t1, HARNESS_ECALL_FAIL
  beq a7, t1, m_fail
m_record:
  la t1, trap_record
  ld t2, TR_COUNT(t1)
  addi t2, t2, 1
  sd t2, TR_COUNT(t1)
  li t3, 1
  bne t2, t3, 1f
  sd t0, TR_FIRST_CAUSE(t1)
1:
  li t3, PRIV_M
  sd t3, TR_LEVEL(t1)
  sd t0, TR_CAUSE(t1)
  csrr t3, mepc
  sd t3, TR_EPC(t1)
  csrr t3, mtval
  sd t3, TR_TVAL(t1)
  csrr t3, mstatus
  sd t3, TR_STATUS(t1)
  li t3, TRAP_STORM_LIMIT
  bgeu t2, t3, m_storm
  ld t3, TR_ARMED(t1)
  beqz t3, m_unexpected
  bltz t0, m_interrupt

  ld t2, TR_RESUME(t1)
  beqz t2, 2f
  sd zero, TR_RESUME(t1)
  csrw mepc, t2
  li t3, MSTATUS_MPP
  csrs mstatus, t3
  li t3, MSTATUS_MPIE
  csrc mstatus, t3
  j m_return
2:
  beqz t0, m_fetch_fault
  li t3, CAUSE_FETCH_ACCESS
  beq t0, t3, m_fetch_fault
  li t3, CAUSE_FETCH_PAGE_FAULT
  beq t0, t3, m_fetch_fault
  csrr t2, mepc
  lhu t3, 0(t2)
  andi t3, t3, 3
  addi t2, t2, 2
  li t1, 3
  bne t3, t1, 3f
  addi t2, t2, 2
3:
  csrw mepc, t2
  j m_return
m_fetch_fault:
  csrw mepc, ra
  j m_return
m_interrupt:
  andi t2, t0, 63
  li t3, 1
  sll t3, t3, t2
  csrc mie, t3
  j m_return
m_to_m:
  csrw mepc, a0
  li t1, MSTATUS_MPP
  csrs mstatus, t1
  li t1, MSTATUS_MPIE
  csrc mstatus, t1
  li a7, 0
m_return:
  ld t0, 0(sp)
  ld t1, 8(sp)
  ld t2, 16(sp)
  ld t3, 24(sp)
  csrrw sp, mscratch, sp
  mret
m_fail:
  j harness_fail
m_storm:
  li a0, FAIL_TRAP_STORM
  j harness_fail
m_unexpected:
  li a0, FAIL_UNEXPECTED_TRAP
  j harness_fail

/* ------------------------------------------------------------------------------------------------ */

  .balign 4
  .globl s_trap_vector
s_trap_vector:
  csrrw sp, sscratch, sp
  sd t0, 0(sp)
  sd t1, 8(sp)
  sd t2, 16(sp)
  sd t3, 24(sp)
  csrr t0, scause
  bltz t0, s_record
  li t1, CAUSE_USER_ECALL
  beq t0, t1, s_ecall
  li t1, CAUSE_SUPERVISOR_ECALL
  beq t0, t1, s_ecall
  j s_record
s_ecall:
  li t1, HARNESS_ECALL_TO_M
  beq a7, t1, s_forward
  li t1, HARNESS_ECALL_FAIL
  beq a7, t1, s_forward
s_record:
  la t1, trap_record
  ld t2, TR_COUNT(t1)
  addi t2, t2, 1
  sd t2, TR_COUNT(t1)
  li t3, 1
  bne t2, t3, 1f
  sd t0, TR_FIRST_CAUSE(t1)
1:
  li t3, PRIV_S
  sd t3, TR_LEVEL(t1)
  sd t0, TR_CAUSE(t1)
  csrr t3, sepc
  sd t3, TR_EPC(t1)
  csrr t3, stval
  sd t3, TR_TVAL(t1)
  csrr t3, sstatus
  sd t3, TR_STATUS(t1)
  li t3, TRAP_STORM_LIMIT
  bgeu t2, t3, s_storm
  ld t3, TR_ARMED(t1)
  beqz t3, s_unexpected
  bltz t0, s_interrupt

  ld t2, TR_RESUME(t1)
  beqz t2, 2f
  sd zero, TR_RESUME(t1)
  mv a0, t2
  li a7, HARNESS_ECALL_TO_M
  j s_forward
2:
  beqz t0, s_fetch_fault
  li t3, CAUSE_FETCH_ACCESS
  beq t0, t3, s_fetch_fault
  li t3, CAUSE_FETCH_PAGE_FAULT
  beq t0, t3, s_fetch_fault
  /* The instruction may sit in a U page (needs SUM) or an execute-only page (needs MXR). */
  csrr t2, sepc
  csrr t1, sstatus
  li t3, MSTATUS_SUM | MSTATUS_MXR
  csrs sstatus, t3
  lhu t3, 0(t2)
  csrw sstatus, t1
  andi t3, t3, 3
  addi t2, t2, 2
  li t1, 3
  bne t3, t1, 3f
  addi t2, t2, 2
3:
  csrw sepc, t2
  j s_return
s_fetch_fault:
  csrw sepc, ra
  j s_return
s_interrupt:
  andi t2, t0, 63
  li t3, 1
  sll t3, t3, t2
  csrc sie, t3
s_return:
  ld t0, 0(sp)
  ld t1, 8(sp)
  ld t2, 16(sp)
  ld t3, 24(sp)
  csrrw sp, sscratch, sp
  sret
s_unexpected:
  li a0, FAIL_UNEXPECTED_TRAP
  li a7, HARNESS_ECALL_FAIL
  j s_forward
s_storm:
  li a0, FAIL_TRAP_STORM
  li a7, HARNESS_ECALL_FAIL
s_forward:
  /* an S-mode ecall carries the request on to the M handler (medeleg[9] is never set by the tests) */
  ld t0, 0(sp)
  ld t1, 8(sp)
  ld t2, 16(sp)
  ld t3, 24(sp)
  csrrw sp, sscratch, sp
  ecall

/* ------------------------------------------------------------------------------------------------ */
/* Out-of-line parts of CLEAR_TRAP and EXPECT_TRAP_R (harness.h), linked through t4. */

  .globl harness_clear_trap
harness_clear_trap:
  la t6, trap_record
  li t5, -1
  sd zero, TR_COUNT(t6)
  sd zero, TR_LEVEL(t6)
  sd t5, TR_CAUSE(t6)
  sd zero, TR_EPC(t6)
  sd zero, TR_TVAL(t6)
  sd zero, TR_STATUS(t6)
  sd t5, TR_FIRST_CAUSE(t6)
  sd zero, TR_RESUME(t6)
  li t5, 1
  sd t5, TR_ARMED(t6)
  jr t4

/* t5 = cause, t6 = code << 8 | level, a0 = epc, a7 = tval */
  .globl harness_expect_trap
harness_expect_trap:
  addi sp, sp, -16
  sd t0, 0(sp)
  sd t1, 8(sp)
  la t0, trap_record
  sd zero, TR_ARMED(t0)
  ld t1, TR_COUNT(t0)
  addi t1, t1, -1
  bnez t1, 1f
  ld t1, TR_LEVEL(t0)
  sub t1, t1, t6
  andi t1, t1, 0xff
  bnez t1, 1f
  ld t1, TR_CAUSE(t0)
  bne t1, t5, 1f
  ld t1, TR_EPC(t0)
  bne t1, a0, 1f
  ld t1, TR_TVAL(t0)
  bne t1, a7, 1f
  ld t0, 0(sp)
  ld t1, 8(sp)
  addi sp, sp, 16
  jr t4
1:
  srli a0, t6, 8
  li a7, HARNESS_ECALL_FAIL
  ecall

/* ------------------------------------------------------------------------------------------------ */

  DEFINE_PROBES probe_

  /* a `ret` to jump at: fetch probes use it as a target that must execute */
  .balign 4
  .globl probe_ret
probe_ret:
  ret

/* ------------------------------------------------------------------------------------------------ */
/* Reporting (M-mode). The code below uses only 4-byte instructions so that report_trap can step over
 * a faulting one: if the UART is missing, the line is lost but tohost is still written. */

  .option push
  .option norvc

  .globl harness_pass
harness_pass:
  li a0, 0
  j report

  /* a0 = fail code */
  .globl harness_fail
harness_fail:
  j report

report:
  mv s0, a0
  la sp, stack_top
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  csrw mie, zero
  la t0, report_trap
  csrw mtvec, t0

  la a0, msg_prefix
  call puts
  la a0, test_name
  call puts
  bnez s0, 1f
  la a0, msg_pass
  call puts
  j 2f

1:
  la a0, msg_fail
  call puts
  mv a0, s0
  call putdec
  la a0, msg_count
  call puts
  TRAP_FIELD a0, TR_COUNT
  call puthex
  la a0, msg_level
  call puts
  TRAP_FIELD a0, TR_LEVEL
  call puthex
  la a0, msg_cause
  call puts
  TRAP_FIELD a0, TR_CAUSE
  call puthex
  la a0, msg_epc
  call puts
  TRAP_FIELD a0, TR_EPC
  call puthex
  la a0, msg_tval
  call puts
  TRAP_FIELD a0, TR_TVAL
  call puthex
  la a0, msg_status
  call puts
  TRAP_FIELD a0, TR_STATUS
  call puthex
  li a0, '\n'
  call putc
2:
  EXIT_WITH s0
  j park

  .balign 4
report_trap:
  csrr t6, mepc
  addi t6, t6, 4
  csrw mepc, t6
  mret

/* a0 = NUL-terminated string */
puts:
  mv t2, ra
  mv t3, a0
1:
  lbu a0, 0(t3)
  beqz a0, 2f
  call putc
  addi t3, t3, 1
  j 1b
2:
  mv ra, t2
  ret

/* a0 = value, printed as 0x and 16 hex digits */
puthex:
  mv t2, ra
  mv t3, a0
  li a0, '0'
  call putc
  li a0, 'x'
  call putc
  li t4, 60
1:
  srl a0, t3, t4
  andi a0, a0, 15
  li t5, 10
  blt a0, t5, 2f
  addi a0, a0, 'a' - 10 - '0'
2:
  addi a0, a0, '0'
  call putc
  addi t4, t4, -4
  bgez t4, 1b
  mv ra, t2
  ret

/* a0 = value below 1000, printed in decimal */
putdec:
  mv t2, ra
  mv t3, a0
  li t4, 100
  li t5, 10
  divu a0, t3, t4
  beqz a0, 1f
  addi a0, a0, '0'
  call putc
1:
  divu a0, t3, t5
  beqz a0, 2f
  remu a0, a0, t5
  addi a0, a0, '0'
  call putc
2:
  remu a0, t3, t5
  addi a0, a0, '0'
  call putc
  mv ra, t2
  ret

/* a0 = byte; waits (boundedly) for the 16550's transmitter holding register to be empty */
putc:
  li t0, UART0_BASE
  li t1, 10000
1:
  lbu t6, 5(t0)          /* UART_LSR */
  andi t6, t6, 0x20      /* UART_LSR_THRE */
  bnez t6, 2f
  addi t1, t1, -1
  bnez t1, 1b
2:
  sb a0, 0(t0)           /* UART_THR */
  ret

  .option pop

  .section .rodata
msg_prefix: .asciz "tabvm-baremetal "
msg_pass: .asciz ": PASS\n"
msg_fail: .asciz ": FAIL "
msg_count: .asciz " traps="
msg_level: .asciz " level="
msg_cause: .asciz " cause="
msg_epc: .asciz " epc="
msg_tval: .asciz " tval="
msg_status: .asciz " status="

/* ------------------------------------------------------------------------------------------------ */

  .data
  .balign 64
  .globl harness_qemu7
harness_qemu7:
  .dword 0
  .balign 64
  .globl trap_record
trap_record:
  .zero TR_SIZE
m_save_area:
  .zero 64
s_save_area:
  .zero 64

  TOHOST_WORDS

  .bss
  .balign 16
stack:
  .zero 4096
stack_top:
