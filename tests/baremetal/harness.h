/*
 * Shared definitions and assembler macros for tabvm's bare-metal guest tests.
 *
 * The programs run on QEMU's `virt` memory map, start in M-mode at 0x8000_0000 (harness.S: _start),
 * and end by writing the `tohost` word (1 = pass, (code << 1) | 1 = fail with `code`, the
 * riscv-tests/spike convention) and then the SiFive test finisher (0x5555 pass, 0x3333 | code << 16),
 * so the same ELF ends under tabvm's runner and under `qemu-system-riscv64 -machine virt -bios`.
 *
 * Numbers come from the RISC-V privileged specification 1.12 (section numbers in comments).
 *
 * Register conventions for test code:
 *   - the macros below clobber t4, t5, t6, a0 and a7; RUN_PROBE also ra, s3 and s11;
 *   - test code is M-mode code unless a macro says otherwise: CLEAR_TRAP and the EXPECT_* checks
 *     run in M; FAIL, CHECK_* and RETURN_TO_M run in any mode;
 *   - the trap handlers restore every register but a0 and a7, which the harness's own ecalls use,
 *     so t0..t3, a1..a6 and s0..s11 survive a trap (keep expected values in s-registers);
 *   - fail codes are 1..250 and distinct within a program; the harness's own are 253 (a trap that no
 *     CLEAR_TRAP armed) and 254 (a trap storm);
 *   - a trap is expected only between CLEAR_TRAP and the next EXPECT_* check: any other trap (except
 *     the harness's own ecalls) fails the program at once with 253, so an instruction that traps by
 *     mistake cannot be stepped over unnoticed.
 */
#ifndef TABVM_BAREMETAL_HARNESS_H
#define TABVM_BAREMETAL_HARNESS_H

#define PRIV_U 0
#define PRIV_S 1
#define PRIV_M 3

/* mstatus (§3.1.6) */
#define MSTATUS_SIE (1 << 1)
#define MSTATUS_MIE (1 << 3)
#define MSTATUS_SPIE (1 << 5)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_SPP (1 << 8)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_MPRV (1 << 17)
#define MSTATUS_SUM (1 << 18)
#define MSTATUS_MXR (1 << 19)
#define MSTATUS_TVM (1 << 20)
#define MSTATUS_TW (1 << 21)
#define MSTATUS_TSR (1 << 22)

/* mcause exception codes (table 3.6) */
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_USER_ECALL 8
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_MACHINE_ECALL 11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15

/* Interrupts: mcause = INTERRUPT_BIT | IRQ_x; mip/mie bit x = 1 << IRQ_x (§3.1.9). */
#define INTERRUPT_BIT 0x8000000000000000
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11
#define MIP_SSIP (1 << IRQ_S_SOFT)
#define MIP_MSIP (1 << IRQ_M_SOFT)
#define MIP_STIP (1 << IRQ_S_TIMER)
#define MIP_MTIP (1 << IRQ_M_TIMER)
#define MIP_SEIP (1 << IRQ_S_EXT)
#define MIP_MEIP (1 << IRQ_M_EXT)

/* PMP configuration bits (§3.7.1) */
#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_OFF 0x00
#define PMP_TOR 0x08
#define PMP_NA4 0x10
#define PMP_NAPOT 0x18
#define PMP_L 0x80

/* Page-table entries and satp (§4.3, §4.4, §4.5) */
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define SATP_MODE_SHIFT 60
#define SATP_MODE_BARE 0
#define SATP_MODE_SV39 8
#define SATP_MODE_SV48 9
#define SATP_MODE_SV57 10

/* The virt board (workers/machine/memory-map.ts) */
#define SIFIVE_TEST_BASE 0x100000
#define SIFIVE_TEST_PASS 0x5555
#define SIFIVE_TEST_FAIL 0x3333
#define CLINT_BASE 0x2000000
#define CLINT_MSIP (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)
#define UART0_BASE 0x10000000
#define DRAM_BASE 0x80000000
/* Nothing answers here on the virt board (neither tabvm's nor QEMU's): accesses must fault. */
#define UNMAPPED_ADDR 0x08000000

/* The trap record both handlers fill in (harness.S: trap_record), one dword per field. */
#define TR_COUNT 0        /* traps since CLEAR_TRAP */
#define TR_LEVEL 8        /* PRIV_M or PRIV_S: which handler took the last trap */
#define TR_CAUSE 16       /* xcause of the last trap */
#define TR_EPC 24         /* xepc of the last trap */
#define TR_TVAL 32        /* xtval of the last trap */
#define TR_STATUS 40      /* mstatus (M handler) or sstatus (S handler) on entry to the handler */
#define TR_FIRST_CAUSE 48 /* xcause of the first trap since CLEAR_TRAP */
#define TR_RESUME 56      /* if nonzero: the next trap resumes here, in M-mode, and clears it */
#define TR_ARMED 64       /* traps are expected: set by CLEAR_TRAP, cleared by the EXPECT_* checks */
#define TR_SIZE 72

/* a7 values of the harness's own ecalls (a0 is the argument); other a7 values are test ecalls. */
#define HARNESS_ECALL_TO_M 0x7ab70001 /* continue at a0 in M-mode, with mstatus.MIE = 0 */
#define HARNESS_ECALL_FAIL 0x7ab70002 /* stop: fail with code a0 */

#define FAIL_UNEXPECTED_TRAP 253 /* a trap outside a CLEAR_TRAP .. EXPECT_* window */
#define FAIL_TRAP_STORM 254
#define TRAP_STORM_LIMIT 64

#ifdef __ASSEMBLER__

/* Names the test in the PASS/FAIL line printed on the UART. */
.macro TEST_NAME name
  .pushsection .rodata
  .globl test_name
test_name:
  .asciz "\name"
  .popsection
.endm

/* Stop: the test passed (M-mode). */
.macro PASS
  j harness_pass
.endm

/* Stop with exit code \n, from any privilege mode. */
.macro FAIL n
  li a0, \n
  li a7, HARNESS_ECALL_FAIL
  ecall
.endm

/* --- comparisons: each fails with \n ------------------------------------------------------------ */

.macro CHECK_EQ n, a, b
  beq \a, \b, .Lok\@
  FAIL \n
.Lok\@:
.endm

.macro CHECK_NE n, a, b
  bne \a, \b, .Lok\@
  FAIL \n
.Lok\@:
.endm

/* register == immediate (t6 holds the immediate) */
.macro CHECK_EQI n, reg, imm
  li t6, \imm
  CHECK_EQ \n, \reg, t6
.endm

/* (\reg & \mask) == \value */
.macro CHECK_BITS n, reg, mask, value
  li t6, \mask
  and t6, \reg, t6
  li t5, \value
  CHECK_EQ \n, t6, t5
.endm

/* --- the trap record ------------------------------------------------------------------------------ */

/* Arm the trap record for the next check (M-mode; clobbers t4-t6). */
.macro CLEAR_TRAP
  jal t4, harness_clear_trap
.endm

/* \reg = trap_record.\field */
.macro TRAP_FIELD reg, field
  la \reg, trap_record
  ld \reg, \field(\reg)
.endm

/* The next trap continues at \label in M-mode (for traps that cannot simply be stepped over). */
.macro RESUME_AT label
  la t6, trap_record
  la t5, \label
  sd t5, TR_RESUME(t6)
.endm

.macro DISARM_TRAP
  la t6, trap_record
  sd zero, TR_ARMED(t6)
.endm

.macro EXPECT_NO_TRAP n
  DISARM_TRAP
  TRAP_FIELD t6, TR_COUNT
  CHECK_EQ \n, t6, zero
.endm

/*
 * Exactly one trap since CLEAR_TRAP, taken by the \level handler with \cause, xepc = register \epc and
 * xtval = register \tval (use `zero` for 0; \epc must not be a7). M-mode only. The FAIL line shows the
 * trap record when this fails.
 */
.macro EXPECT_TRAP_R n, level, cause, epc, tval
  mv a7, \tval
  mv a0, \epc
  li t5, \cause
  li t6, (\n << 8) | \level
  jal t4, harness_expect_trap
.endm

/* As EXPECT_TRAP_R, with xepc = the address of \epc_label. */
.macro EXPECT_TRAP n, level, cause, epc_label, tval
  la a0, \epc_label
  EXPECT_TRAP_R \n, \level, \cause, a0, \tval
.endm

/* As EXPECT_TRAP, for the traps whose xtval the specification leaves open (it is not checked). */
.macro EXPECT_TRAP_ANY_TVAL n, level, cause, epc_label
  la a0, \epc_label
  TRAP_FIELD a7, TR_TVAL
  EXPECT_TRAP_R \n, \level, \cause, a0, a7
.endm

/* As EXPECT_TRAP_R, where the specification allows either of two causes. */
.macro EXPECT_TRAP_EITHER_R n, level, cause1, cause2, epc, tval
  TRAP_FIELD t6, TR_CAUSE
  li t5, \cause1
  bne t6, t5, .Lsecond\@
  EXPECT_TRAP_R \n, \level, \cause1, \epc, \tval
  j .Ldone\@
.Lsecond\@:
  EXPECT_TRAP_R \n, \level, \cause2, \epc, \tval
.Ldone\@:
.endm

/* \reg = the bits of the instruction at \label (16 or 32 bits, zero-extended); clobbers t5. */
.macro LOAD_INSN reg, label
  la t5, \label
  lhu \reg, 0(t5)
  andi t5, \reg, 3
  addi t5, t5, -3
  bnez t5, .Lshort\@
  la t5, \label
  lhu t5, 2(t5)
  slli t5, t5, 16
  or \reg, \reg, t5
.Lshort\@:
.endm

/* An illegal-instruction trap at \label, taken by \level, with xtval = the instruction's bits. */
.macro EXPECT_ILLEGAL n, level, label
  LOAD_INSN a7, \label
  EXPECT_TRAP \n, \level, CAUSE_ILLEGAL_INSTRUCTION, \label, a7
.endm

/* --- privilege changes ------------------------------------------------------------------------------ */

/* From M-mode: continue at \target in privilege \priv (through mret, so MIE = MPIE afterwards). */
.macro GOTO_MODE priv, target
  li t6, MSTATUS_MPP
  csrc mstatus, t6
  li t6, (\priv << MSTATUS_MPP_SHIFT)
  csrs mstatus, t6
  la t6, \target
  csrw mepc, t6
  mret
.endm

/* From M-mode: continue with the next instruction in privilege \priv. */
.macro ENTER priv
  GOTO_MODE \priv, .Lenter\@
.Lenter\@:
.endm

/* From any mode: continue with the next instruction in M-mode (mstatus.MIE = 0). */
.macro RETURN_TO_M
  la a0, .Lback\@
  li a7, HARNESS_ECALL_TO_M
  ecall
.Lback\@:
.endm

/* From any mode: continue at the address in register \reg in M-mode. */
.macro RETURN_TO_M_R reg
  mv a0, \reg
  li a7, HARNESS_ECALL_TO_M
  ecall
.endm

/*
 * Probe routines: one access at the address in s1 (store value s2, result in s3), then back to M-mode
 * at ra: load/store (ld/sd), lw/sw, amo (amoadd.d), lr (lr.d), fetch (jalr to s1; clobbers s11).
 * Their first instruction is the access, so xepc of a data fault is the routine's address; a fetch
 * fault resumes after the jump (the handlers return to ra on fetch faults). harness.S instantiates
 * them in .text as probe_*; a test that needs them in U-mode pages instantiates a copy.
 */
.macro DEFINE_PROBES prefix
  .balign 4
  .globl \prefix\()load
\prefix\()load:
  ld s3, 0(s1)
  RETURN_TO_M_R ra
  .globl \prefix\()store
\prefix\()store:
  sd s2, 0(s1)
  RETURN_TO_M_R ra
  .globl \prefix\()lw
\prefix\()lw:
  lw s3, 0(s1)
  RETURN_TO_M_R ra
  .globl \prefix\()sw
\prefix\()sw:
  sw s2, 0(s1)
  RETURN_TO_M_R ra
  .globl \prefix\()amo
\prefix\()amo:
  amoadd.d s3, s2, (s1)
  RETURN_TO_M_R ra
  .globl \prefix\()lr
\prefix\()lr:
  lr.d s3, (s1)
  RETURN_TO_M_R ra
  .globl \prefix\()fetch
\prefix\()fetch:
  mv s11, ra
  jalr ra, 0(s1)
  RETURN_TO_M_R s11
.endm

/* From M-mode: run probe routine \routine in privilege \priv after CLEAR_TRAP; back in M-mode after. */
.macro RUN_PROBE priv, routine
  CLEAR_TRAP
  la ra, .Lprobed\@
  GOTO_MODE \priv, \routine
.Lprobed\@:
.endm

/* The probe ran without a trap. */
.macro PROBE_OK n, priv, routine
  RUN_PROBE \priv, \routine
  EXPECT_NO_TRAP \n
.endm

/* The data probe faulted into M-mode with \cause and xtval = the address (s1). */
.macro PROBE_FAULT n, priv, routine, cause
  RUN_PROBE \priv, \routine
  EXPECT_TRAP \n, PRIV_M, \cause, \routine, s1
.endm

/* The fetch probe faulted into M-mode with \cause, xepc = xtval = the target (s1). */
.macro PROBE_FETCH_FAULT n, priv, routine, cause
  RUN_PROBE \priv, \routine
  EXPECT_TRAP_R \n, PRIV_M, \cause, s1, s1
.endm

/* Branch to \label when running on QEMU 7.x (harness_qemu7), to excuse one of its known deviations
 * from privileged spec 1.12. Every use says which deviation. */
.macro QEMU7_SKIP label
  la t6, harness_qemu7
  ld t6, 0(t6)
  bnez t6, \label
.endm

/* --- The end of a program ---------------------------------------------------------------------------- */

/*
 * Ends the program with the exit code in register \code, 0 for a pass (M-mode; clobbers t0, t1):
 * tohost = (code << 1) | 1, where tabvm's runner stops, then the SiFive test finisher for QEMU, which has
 * no tohost: PASS, or FAIL with the code in bits 31:16. Only 4-byte instructions.
 */
.macro EXIT_WITH code
  slli t0, \code, 1
  ori t0, t0, 1
  la t1, tohost
  sd t0, 0(t1)
  li t0, SIFIVE_TEST_PASS
  beqz \code, .Lexit_pass\@
  slli t0, \code, 16
  li t1, SIFIVE_TEST_FAIL
  or t0, t0, t1
.Lexit_pass\@:
  li t1, SIFIVE_TEST_BASE
  sw t0, 0(t1)
.endm

/* The tohost and fromhost words, each in a 64-byte line of its own: one instance per program. */
.macro TOHOST_WORDS
  .section .tohost, "aw", @progbits
  .balign 64
  .globl tohost
tohost:
  .dword 0
  .balign 64
  .globl fromhost
fromhost:
  .dword 0
.endm

/* --- CLINT ------------------------------------------------------------------------------------------ */

.macro READ_MTIME reg
  li \reg, CLINT_MTIME
  ld \reg, 0(\reg)
.endm

/* mtimecmp of hart 0 = register \reg */
.macro SET_MTIMECMP reg
  li t6, CLINT_MTIMECMP
  sd \reg, 0(t6)
.endm

#endif /* __ASSEMBLER__ */
#endif /* TABVM_BAREMETAL_HARNESS_H */
