/*
 * Physical memory attributes of QEMU's `virt` board (privileged spec 1.12 §3.6: "Accesses that fail
 * PMA checks raise precise access-fault exceptions"): instructions come only from memory (RAM and the
 * boot ROM), so a jump into a device is an instruction access fault; and each device takes the access
 * widths its QEMU model declares valid (MemoryRegionOps .valid), any other width a load or store access
 * fault with mtval = the address. QEMU fetches 2-byte parcels through the same width check, so it
 * faults only for devices that refuse 2-byte accesses (CLINT, PLIC, RTC) and runs register bytes of
 * the others as code; tabvm faults for every device (docs/fuzzing.md, "Memory map"), so the fetch
 * checks here are the devices where both agree. Widths:
 *   CLINT MSIP 4 (riscv_aclint.c, swi), CLINT timer 4 and 8 (mtimer), PLIC 4 (sifive_plic.c),
 *   UART 1 to 8 (serial.c, serial_mm), virtio-mmio any (virtio-mmio.c declares none; the memory core
 *   splits 8 bytes into two 4-byte accesses),
 *   goldfish RTC 4 (goldfish_rtc.c), SiFive test 2 and 4 (sifive_test.c).
 */
#include "harness.h"

  TEST_NAME pma

#define PLIC_PRIORITY2 0x0c000008
#define RTC_TIME_LOW 0x00101000
#define VIRTIO0_MAGIC 0x10001000
#define UART0_MCR (UART0_BASE + 4)

/* A load or store \insn at the address in s1 faults with \cause and mtval = s1. */
.macro ACCESS_FAULT n, cause, insn
  CLEAR_TRAP
1:
  \insn
  EXPECT_TRAP \n, PRIV_M, \cause, 1b, s1
.endm

/* A load or store \insn at the address in s1 does not trap. */
.macro ACCESS_OK n, insn
  CLEAR_TRAP
  \insn
  EXPECT_NO_TRAP \n
.endm

  .text
  .globl test_main
test_main:
  /* ---- no code in devices: a jump into one is an instruction access fault, mepc = mtval = target */
  li s1, CLINT_BASE
  PROBE_FETCH_FAULT 1, PRIV_M, probe_fetch, CAUSE_FETCH_ACCESS
  li s1, CLINT_MTIME
  PROBE_FETCH_FAULT 2, PRIV_S, probe_fetch, CAUSE_FETCH_ACCESS
  li s1, PLIC_PRIORITY2
  PROBE_FETCH_FAULT 3, PRIV_M, probe_fetch, CAUSE_FETCH_ACCESS
  li s1, RTC_TIME_LOW
  PROBE_FETCH_FAULT 4, PRIV_U, probe_fetch, CAUSE_FETCH_ACCESS

  /* ---- CLINT: MSIP words take 4 bytes only; the timer 4 or 8 */
  li s1, CLINT_MSIP
  ACCESS_OK 10, "lw a1, 0(s1)"
  ACCESS_FAULT 11, CAUSE_LOAD_ACCESS, "ld a1, 0(s1)"
  ACCESS_FAULT 12, CAUSE_STORE_ACCESS, "sd zero, 0(s1)"
  ACCESS_FAULT 13, CAUSE_LOAD_ACCESS, "lb a1, 0(s1)"
  li s1, CLINT_MTIME
  ACCESS_OK 14, "ld a1, 0(s1)"
  ACCESS_OK 15, "lw a1, 0(s1)"
  ACCESS_FAULT 16, CAUSE_LOAD_ACCESS, "lh a1, 0(s1)"
  li s1, CLINT_MTIMECMP
  ACCESS_FAULT 17, CAUSE_STORE_ACCESS, "sb zero, 0(s1)"

  /* ---- PLIC: 4 bytes only */
  li s1, PLIC_PRIORITY2
  ACCESS_OK 20, "lw a1, 0(s1)"
  ACCESS_FAULT 21, CAUSE_LOAD_ACCESS, "lb a1, 0(s1)"
  ACCESS_FAULT 22, CAUSE_STORE_ACCESS, "sh zero, 0(s1)"
  ACCESS_FAULT 23, CAUSE_LOAD_ACCESS, "ld a1, 0(s1)"

  /* ---- UART: any width from 1 to 8 (MCR: no side effect on reading) */
  li s1, UART0_MCR
  ACCESS_OK 30, "lb a1, 0(s1)"
  ACCESS_OK 31, "lw a1, 0(s1)"
  li s1, UART0_BASE
  ACCESS_OK 32, "ld a1, 0(s1)"

  /* ---- virtio-mmio: any width; 8 bytes are two 4-byte reads */
  li s1, VIRTIO0_MAGIC
  ACCESS_OK 40, "lw a1, 0(s1)"
  li t0, 0x74726976
  CHECK_EQ 41, a1, t0
  ACCESS_OK 42, "ld a1, 0(s1)"
  /* the low word is the magic; the high word the version (QEMU's default is legacy 1, tabvm's is 2) */
  slli a2, a1, 32
  srli a2, a2, 32
  li t0, 0x74726976
  CHECK_EQ 43, a2, t0
  srli a2, a1, 32
  CHECK_NE 44, a2, zero

  /* ---- goldfish RTC: 4 bytes only */
  li s1, RTC_TIME_LOW
  ACCESS_OK 50, "lw a1, 0(s1)"
  ACCESS_FAULT 51, CAUSE_LOAD_ACCESS, "lb a1, 0(s1)"
  /* 8 bytes: refused by tabvm as goldfish_rtc.c's valid sizes say, but Debian's QEMU 7.2 answers it;
   * not checked here (docs/fuzzing.md, "Memory map") */

  /* ---- SiFive test: 2 or 4 bytes (a read returns 0; a write of 0 is no command) */
  li s1, SIFIVE_TEST_BASE
  ACCESS_OK 60, "lw a1, 0(s1)"
  ACCESS_OK 61, "lh a1, 0(s1)"
  ACCESS_FAULT 62, CAUSE_LOAD_ACCESS, "lb a1, 0(s1)"
  ACCESS_FAULT 63, CAUSE_STORE_ACCESS, "sd zero, 0(s1)"

  PASS
