/*
 * Physical memory protection (privileged spec 1.12 §3.7): NA4, NAPOT and TOR regions; S and U loads,
 * stores, AMOs and fetches denied with causes 5, 7 and 1 and mtval = the address; priority by entry
 * number and the all-bytes rule; M-mode unbound by unlocked entries but bound through MPRV; no match
 * for S/U failing; locked entries binding M and ignoring writes (also pmpaddr i under a locked TOR
 * entry i+1). Locked entries stay until reset, so they come last.
 *
 * Harness entry 15 (NAPOT over everything, RWX) gives S and U the rest of memory.
 */
#include "harness.h"

  TEST_NAME pmp

#define RET_INSN 0x00008067
#define NA4_OFFSET 0x100
#define NA4_VALUE 0x11223344

/* pmpcfg0: 0 NA4 R (na4 word) | 1 NAPOT --- (napot_page) | 2 OFF (TOR base) | 3 TOR R-X (tor_rx_page)
 * | 4 TOR R-- (tor_r_page) */
#define CFG0_NA4 (PMP_NA4 | PMP_R)
#define CFG0_REST ((PMP_NAPOT << 8) | ((PMP_TOR | PMP_R | PMP_X) << 24) | ((PMP_TOR | PMP_R) << 32))

  .text
  .globl test_main
test_main:
  li a7, 0

  /* ---- granularity: with pmp0cfg = 0, pmpaddr0 = ~0 reads back with bits below G cleared */
  csrw pmpcfg0, zero
  li t0, -1
  csrw pmpaddr0, t0
  csrr s0, pmpaddr0
  CHECK_NE 1, s0, zero
  andi t0, s0, 0x7ff          /* G <= 10: 4 KiB regions are possible */
  CHECK_NE 2, t0, zero
  andi s9, s0, 1              /* s9 = 1 when G = 0: NA4 can be selected */

  /* ---- contents: a `ret` at the start of each page a fetch probe jumps to */
  li t0, RET_INSN
  la t1, napot_page
  sw t0, 0(t1)
  la t1, tor_rx_page
  sw t0, 0(t1)
  la t1, tor_r_page
  sw t0, 0(t1)
  la t1, locked_page
  sw t0, 0(t1)
  la t1, na4_page
  li t0, NA4_VALUE
  sw t0, NA4_OFFSET(t1)
  fence.i

  /* ---- entries 0-4 */
  la t0, na4_page + NA4_OFFSET
  srli t0, t0, 2
  csrw pmpaddr0, t0
  la t0, napot_page
  srli t0, t0, 2
  ori t0, t0, 0x1ff           /* NAPOT 4 KiB: pmpaddr = base >> 2 | (size / 8 - 1) */
  csrw pmpaddr1, t0
  la t0, tor_rx_page
  srli t0, t0, 2
  csrw pmpaddr2, t0
  la t0, tor_r_page
  srli t0, t0, 2
  csrw pmpaddr3, t0
  la t0, na4_page
  srli t0, t0, 2
  csrw pmpaddr4, t0
  li s10, CFG0_REST
  beqz s9, 1f
  ori s10, s10, CFG0_NA4
1:
  csrw pmpcfg0, s10
  csrr t0, pmpcfg0
  CHECK_EQ 3, t0, s10
  sfence.vma

  /* ---- NA4: exactly the 4 bytes at na4_page + NA4_OFFSET, read-only */
  beqz s9, 1f
  la s1, na4_page + NA4_OFFSET
  PROBE_OK 4, PRIV_S, probe_lw
  CHECK_EQI 5, s3, NA4_VALUE
  PROBE_FAULT 6, PRIV_S, probe_sw, CAUSE_STORE_ACCESS
  PROBE_OK 7, PRIV_U, probe_lw
  /* an 8-byte load matches entry 0 with only 4 of its bytes: "the matching PMP entry must match all
   * bytes of an access, or the access fails" (§3.7.1) */
  PROBE_FAULT 8, PRIV_S, probe_load, CAUSE_LOAD_ACCESS
  la s1, na4_page + NA4_OFFSET + 4
  PROBE_OK 9, PRIV_S, probe_sw
  la s1, na4_page + NA4_OFFSET - 4
  PROBE_OK 10, PRIV_S, probe_sw
1:

  /* ---- NAPOT with no permissions */
  la s1, napot_page + 8
  PROBE_FAULT 11, PRIV_S, probe_load, CAUSE_LOAD_ACCESS
  PROBE_FAULT 12, PRIV_U, probe_load, CAUSE_LOAD_ACCESS
  PROBE_FAULT 13, PRIV_S, probe_lr, CAUSE_LOAD_ACCESS
  la s1, napot_page + 0xff8
  PROBE_FAULT 14, PRIV_S, probe_store, CAUSE_STORE_ACCESS
  /* an AMO on a region without R or W: a store/AMO fault, never a load fault (riscv-isa-manual#469);
   * QEMU 7.2 checks the read first and reports a load access fault */
  RUN_PROBE PRIV_U, probe_amo
  QEMU7_SKIP 1f
  EXPECT_TRAP 15, PRIV_M, CAUSE_STORE_ACCESS, probe_amo, s1
  j 2f
1:
  EXPECT_TRAP 15, PRIV_M, CAUSE_LOAD_ACCESS, probe_amo, s1
2:
  la s1, napot_page
  PROBE_FETCH_FAULT 16, PRIV_S, probe_fetch, CAUSE_FETCH_ACCESS
  PROBE_FETCH_FAULT 17, PRIV_U, probe_fetch, CAUSE_FETCH_ACCESS
  la s1, napot_page + 4096    /* first byte past the region */
  PROBE_OK 18, PRIV_S, probe_load
  la s1, napot_page - 8       /* last dword before it */
  PROBE_OK 19, PRIV_S, probe_store

  /* M-mode is not bound by unlocked entries */
  la s1, napot_page + 8
  PROBE_OK 20, PRIV_M, probe_load
  PROBE_OK 21, PRIV_M, probe_store
  la s1, napot_page
  PROBE_OK 22, PRIV_M, probe_fetch

  /* ... except through MPRV: M-mode loads and stores then use MPP's privilege (§3.1.6.3) */
  la s1, napot_page + 8
  CLEAR_TRAP
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, (PRIV_S << MSTATUS_MPP_SHIFT) | MSTATUS_MPRV
  csrs mstatus, t0
1:
  ld s3, 0(s1)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  EXPECT_TRAP 23, PRIV_M, CAUSE_LOAD_ACCESS, 1b, s1

  /* ---- TOR: [tor_rx_page, tor_r_page) R-X, [tor_r_page, na4_page) R-- */
  la s1, tor_rx_page
  PROBE_OK 24, PRIV_S, probe_fetch
  PROBE_OK 25, PRIV_U, probe_fetch
  PROBE_OK 26, PRIV_S, probe_load
  PROBE_FAULT 27, PRIV_S, probe_store, CAUSE_STORE_ACCESS
  PROBE_FAULT 28, PRIV_U, probe_store, CAUSE_STORE_ACCESS
  /* AMOs need write permission and raise store/AMO faults, never load faults */
  PROBE_FAULT 29, PRIV_S, probe_amo, CAUSE_STORE_ACCESS
  la s1, tor_r_page
  PROBE_FETCH_FAULT 30, PRIV_S, probe_fetch, CAUSE_FETCH_ACCESS
  PROBE_OK 31, PRIV_S, probe_load
  la s1, tor_r_page + 0xff8
  PROBE_FAULT 32, PRIV_S, probe_store, CAUSE_STORE_ACCESS
  la s1, na4_page             /* the TOR top is exclusive */
  PROBE_OK 33, PRIV_S, probe_store

  /* ---- no entry matches: S fails, M succeeds. Without entry 15, S cannot even fetch. */
  li t0, 0xff << 56
  csrc pmpcfg2, t0
  sfence.vma
  la s1, 1f
  CLEAR_TRAP
  RESUME_AT 2f
  GOTO_MODE PRIV_S, 1f
1:
  FAIL 34                     /* fetched and ran in S */
2:
  EXPECT_TRAP_R 35, PRIV_M, CAUSE_FETCH_ACCESS, s1, s1
  la s1, scratch_page
  PROBE_OK 36, PRIV_M, probe_store
  li t0, (PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 56
  csrs pmpcfg2, t0
  sfence.vma

  /* ---- locked NAPOT entry 5 (R only) binds M-mode too */
  la t0, locked_page
  srli t0, t0, 2
  ori t0, t0, 0x1ff
  csrw pmpaddr5, t0
  csrr s5, pmpaddr5
  li t0, (PMP_L | PMP_NAPOT | PMP_R) << 40
  csrs pmpcfg0, t0
  sfence.vma
  csrr t0, pmpcfg0
  srli t0, t0, 40
  andi t0, t0, 0xff
  CHECK_EQI 37, t0, PMP_L | PMP_NAPOT | PMP_R
  la s1, locked_page + 8
  PROBE_OK 38, PRIV_M, probe_load
  PROBE_FAULT 39, PRIV_M, probe_store, CAUSE_STORE_ACCESS
  PROBE_OK 40, PRIV_S, probe_load
  PROBE_FAULT 41, PRIV_S, probe_store, CAUSE_STORE_ACCESS
  la s1, locked_page
  PROBE_FETCH_FAULT 42, PRIV_M, probe_fetch, CAUSE_FETCH_ACCESS

  /* writes to a locked entry's pmpaddr and pmpcfg are ignored; its neighbours stay writable */
  csrw pmpaddr5, zero
  csrr t0, pmpaddr5
  CHECK_EQ 43, t0, s5
  li t0, 0xff << 40
  csrc pmpcfg0, t0
  csrr t0, pmpcfg0
  srli t0, t0, 40
  andi t0, t0, 0xff
  CHECK_EQI 44, t0, PMP_L | PMP_NAPOT | PMP_R
  li t0, PMP_R << 48           /* entry 6: A = OFF, so R has no effect */
  csrs pmpcfg0, t0
  csrr t0, pmpcfg0
  srli t0, t0, 48
  andi t0, t0, 0xff
  CHECK_EQI 45, t0, PMP_R
  li t0, 0xff << 48
  csrc pmpcfg0, t0
  csrr t0, pmpcfg0            /* entries 0-4 and the locked entry 5, nothing else */
  li t1, (PMP_L | PMP_NAPOT | PMP_R) << 40
  or t1, t1, s10
  CHECK_EQ 46, t0, t1

  /* ---- locked TOR entry 8 over [pmpaddr7, pmpaddr8): pmpaddr7 is locked with it (§3.7.1) */
  la t0, locked_tor_page
  srli t0, t0, 2
  csrw pmpaddr7, t0
  csrr s6, pmpaddr7
  la t0, scratch_page
  srli t0, t0, 2
  csrw pmpaddr8, t0
  csrr s7, pmpaddr8
  li t0, PMP_L | PMP_TOR | PMP_R
  csrs pmpcfg2, t0
  sfence.vma
  la s1, locked_tor_page + 16
  PROBE_OK 47, PRIV_M, probe_load
  PROBE_FAULT 48, PRIV_M, probe_store, CAUSE_STORE_ACCESS
  la s1, scratch_page
  PROBE_OK 49, PRIV_M, probe_store
  csrw pmpaddr7, zero
  csrr t0, pmpaddr7
  CHECK_EQ 50, t0, s6
  csrw pmpaddr8, zero
  csrr t0, pmpaddr8
  CHECK_EQ 51, t0, s7
  la s1, locked_tor_page + 16
  PROBE_FAULT 52, PRIV_M, probe_store, CAUSE_STORE_ACCESS

  PASS

  /* Pages in a fixed order: the TOR regions and "first byte past" checks rely on it. */
  .section .bss.pmp, "aw", @nobits
  .balign 4096
napot_page:
  .zero 4096
tor_rx_page:
  .zero 4096
tor_r_page:
  .zero 4096
na4_page:
  .zero 4096
locked_page:
  .zero 4096
locked_tor_page:
  .zero 4096
scratch_page:
  .zero 4096
