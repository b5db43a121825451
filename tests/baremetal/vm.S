/*
 * Page-based virtual memory (privileged spec 1.12 §4.1.11, §4.2, §4.3 Sv39, §4.4 Sv48): page tables
 * built here; 4 KiB, 2 MiB, 1 GiB and 512 GiB pages; U pages from U and from S with and without SUM;
 * S never executing U pages; MXR; page faults 12/13/15 with stval = the virtual address; invalid,
 * reserved (W without R) and last-level non-leaf PTEs; misaligned superpages; non-canonical
 * addresses; A/D (hardware update or a fault, §4.3.1 allows either; a PTE with A and D set never
 * faults); sfence.vma; satp writes with an unsupported MODE; MPRV translating M-mode accesses;
 * a page fault delegated to S.
 *
 * Everything this program uses lies in the first 2 MiB of DRAM and is identity-mapped with 4 KiB
 * supervisor pages (its U-mode code on U pages), so trapping code has the same virtual and physical
 * address (the harness's handlers rely on it). Test mappings live at other virtual addresses:
 *
 *   Sv39 root[1]  -> l1_alias: [0] 2 MiB leaf 0x4000_0000 -> DRAM_BASE
 *                              [1] -> l0_alias: 4 KiB test pages at PAGE_VA(i), see PG_* below
 *                              [2] 2 MiB leaf with a misaligned PPN (0x4040_0000)
 *   Sv39 root[2]  -> l1_dram[0] -> l0_dram: identity map of DRAM_BASE .. +2 MiB
 *   Sv39 root[3]  1 GiB leaf 0xC000_0000 -> DRAM_BASE
 *   Sv39 root[4]  1 GiB leaf with a misaligned PPN (0x1_0000_0000)
 *   Sv48 root[0]  -> the Sv39 root, as a level-2 table (same VPN[2] bits)
 *   Sv48 root[1]  -> l2_hi: [2] 1 GiB leaf 0x80_8000_0000 -> DRAM_BASE
 *   Sv48 root[2]  512 GiB leaf 0x100_0000_0000 -> physical 0
 *   Sv48 root[3]  512 GiB leaf with a misaligned PPN (0x180_0000_0000)
 */
#include "harness.h"

  TEST_NAME vm

#define RET_INSN 0x00008067
#define TEST_VALUE 0x1122334455667788
#define USER_VALUE 0x0123456789abcdef
#define USER_VALUE2 0x5a5a5a5a00c0ffee
#define XONLY_VALUE 0x5ec12e7
#define RO_VALUE 0x2020
#define VALUE_A 0xaaaa
#define VALUE_B 0xbbbb

#define ALIAS_2M_VA 0x40000000
#define PAGE_VA(i) (0x40200000 + (i) * 4096)
#define MISALIGNED_2M_VA 0x40400000
#define GIGA_VA 0xc0000000
#define MISALIGNED_1G_VA 0x100000000
#define HI_1G_VA 0x8080000000
#define TERA_VA 0x10000000000
#define MISALIGNED_512G_VA 0x18000000000

#define LEAF_RW (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define LEAF_RWX (LEAF_RW | PTE_X)

/* l0_alias slots */
#define PG_USER 0       /* U RW            -> user_page */
#define PG_XONLY 1      /* --X             -> xonly_page */
#define PG_RO 2         /* R--             -> ro_page */
#define PG_INVALID 3    /* V = 0           -> scratch_page */
#define PG_WONLY 4      /* -W- (reserved)  -> scratch_page */
#define PG_NOEXEC 5     /* RW-             -> noexec_page */
#define PG_REMAP 6      /* RW-             -> page_a, then page_b */
#define PG_A_CLEAR 7    /* RW-, A = D = 0  -> ad_page */
#define PG_D_CLEAR 8    /* RW-, A = 1, D = 0 -> ad_page2 */
#define PG_AD_CLEAR 9   /* RW-, A = D = 0  -> ad_page3 (for a store) */
#define PG_SUPER 10     /* RW-, not U      -> s_page */
#define PG_USER_X 11    /* U R-X           -> ux_page */
#define PG_NONLEAF 12   /* V only, at the last level -> scratch_page */
#define PG_AD_SET 13    /* RW-, A = D = 1  -> ad_page4 */

/* table[index] = PTE for the physical address in \pa with \flags; clobbers t4-t6 */
.macro SET_PTE table, index, pa, flags
  srli t5, \pa, 12
  slli t5, t5, 10
  li t6, \flags
  or t5, t5, t6
  la t6, \table
  li t4, (\index) * 8
  add t6, t6, t4
  sd t5, 0(t6)
.endm

/* \reg = address of table[index] */
.macro PTE_ADDR reg, table, index
  la \reg, \table
  li t6, (\index) * 8
  add \reg, \reg, t6
.endm

/* \reg = the virtual address of \sym in a linear mapping of DRAM_BASE at \base */
.macro ALIAS reg, sym, base
  la \reg, \sym
  li t6, (\base) - DRAM_BASE
  add \reg, \reg, t6
.endm

/* \reg = satp for \mode with root table \root (ASID 0) */
.macro MAKE_SATP reg, mode, root
  la \reg, \root
  srli \reg, \reg, 12
  li t6, (\mode) << SATP_MODE_SHIFT
  or \reg, \reg, t6
.endm

/*
 * A/D check for one access: either no trap and \bits now set in the PTE, or exactly one page fault
 * (\cause) with the PTE unchanged, after which the test sets \bits itself and the access must then
 * succeed. Codes \n .. \n+3.
 */
.macro CHECK_AD n, slot, routine, cause, bits
  li s1, PAGE_VA(\slot)
  RUN_PROBE PRIV_S, \routine
  PTE_ADDR s4, l0_alias, \slot
  ld s5, 0(s4)
  li t0, \bits
  and s6, s5, t0
  TRAP_FIELD t1, TR_COUNT
  beqz t1, .Lhw\@
  EXPECT_TRAP \n, PRIV_M, \cause, \routine, s1
  CHECK_EQ \n + 1, s6, zero
  or s5, s5, t0
  sd s5, 0(s4)
  sfence.vma
  PROBE_OK \n + 3, PRIV_S, \routine
  j .Ldone\@
.Lhw\@:
  CHECK_EQ \n + 2, s6, t0
.Ldone\@:
.endm

  .text
  .globl test_main
test_main:
  li a7, 0
  la t0, _end
  li t1, DRAM_BASE + 0x200000
  bltu t0, t1, 1f
  FAIL 1                      /* the image outgrew the identity-mapped 2 MiB */
1:

  /* ---- page contents */
  li t0, RET_INSN
  la t1, xonly_page
  sw t0, 0(t1)
  li t2, XONLY_VALUE
  sd t2, 8(t1)
  la t1, noexec_page
  sw t0, 0(t1)
  la t1, ux_page
  sw t0, 0(t1)
  la t1, user_page
  li t2, USER_VALUE
  sd t2, 0(t1)
  la t1, ro_page
  li t2, RO_VALUE
  sd t2, 0(t1)
  la t1, page_a
  li t2, VALUE_A
  sd t2, 0(t1)
  la t1, page_b
  li t2, VALUE_B
  sd t2, 0(t1)
  la t0, test_word
  ld s7, 0(t0)                /* s7 = TEST_VALUE, as read without translation */
  fence.i

  /* ---- identity map of the first 2 MiB: supervisor RWX, U R-X for the U-mode code pages */
  la t0, l0_dram
  li t1, DRAM_BASE
  li t2, 512
  li t3, LEAF_RWX
1:
  srli a1, t1, 12
  slli a1, a1, 10
  or a1, a1, t3
  sd a1, 0(t0)
  addi t0, t0, 8
  li a2, 4096
  add t1, t1, a2
  addi t2, t2, -1
  bnez t2, 1b

  la t1, __user_text_start
  la t2, __user_text_end
  li t3, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A
2:
  bgeu t1, t2, 3f
  li a2, DRAM_BASE
  sub a1, t1, a2
  srli a1, a1, 12
  slli a1, a1, 3
  la t0, l0_dram
  add t0, t0, a1
  srli a1, t1, 12
  slli a1, a1, 10
  or a1, a1, t3
  sd a1, 0(t0)
  li a2, 4096
  add t1, t1, a2
  j 2b
3:

  /* ---- the rest of the tables */
  la a1, l1_dram
  SET_PTE sv39_root, 2, a1, PTE_V
  la a1, l0_dram
  SET_PTE l1_dram, 0, a1, PTE_V
  la a1, l1_alias
  SET_PTE sv39_root, 1, a1, PTE_V
  li a1, DRAM_BASE
  SET_PTE l1_alias, 0, a1, LEAF_RW
  SET_PTE sv39_root, 3, a1, LEAF_RW
  la a1, l0_alias
  SET_PTE l1_alias, 1, a1, PTE_V
  li a1, DRAM_BASE + 0x1000
  SET_PTE l1_alias, 2, a1, LEAF_RW
  li a1, DRAM_BASE + 0x200000
  SET_PTE sv39_root, 4, a1, LEAF_RW

  la a1, user_page
  SET_PTE l0_alias, PG_USER, a1, LEAF_RW | PTE_U
  la a1, xonly_page
  SET_PTE l0_alias, PG_XONLY, a1, PTE_V | PTE_X | PTE_A
  la a1, ro_page
  SET_PTE l0_alias, PG_RO, a1, PTE_V | PTE_R | PTE_A
  la a1, scratch_page
  SET_PTE l0_alias, PG_INVALID, a1, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE l0_alias, PG_WONLY, a1, PTE_V | PTE_W | PTE_A | PTE_D
  SET_PTE l0_alias, PG_NONLEAF, a1, PTE_V
  la a1, noexec_page
  SET_PTE l0_alias, PG_NOEXEC, a1, LEAF_RW
  la a1, page_a
  SET_PTE l0_alias, PG_REMAP, a1, LEAF_RW
  la a1, ad_page
  SET_PTE l0_alias, PG_A_CLEAR, a1, PTE_V | PTE_R | PTE_W
  la a1, ad_page2
  SET_PTE l0_alias, PG_D_CLEAR, a1, PTE_V | PTE_R | PTE_W | PTE_A
  la a1, ad_page3
  SET_PTE l0_alias, PG_AD_CLEAR, a1, PTE_V | PTE_R | PTE_W
  la a1, s_page
  SET_PTE l0_alias, PG_SUPER, a1, LEAF_RW
  la a1, ux_page
  SET_PTE l0_alias, PG_USER_X, a1, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A
  la a1, ad_page4
  SET_PTE l0_alias, PG_AD_SET, a1, LEAF_RW

  la a1, sv39_root
  SET_PTE sv48_root, 0, a1, PTE_V
  la a1, l2_hi
  SET_PTE sv48_root, 1, a1, PTE_V
  li a1, DRAM_BASE
  SET_PTE l2_hi, 2, a1, LEAF_RW
  SET_PTE sv48_root, 3, a1, LEAF_RW
  li a1, 0
  SET_PTE sv48_root, 2, a1, LEAF_RW

  /* ---- Sv39 on */
  MAKE_SATP s8, SATP_MODE_SV39, sv39_root
  csrw satp, s8
  sfence.vma
  csrr t0, satp
  CHECK_EQ 2, t0, s8

  /* ---- 4 KiB (identity), 2 MiB and 1 GiB pages */
  la s1, test_word
  PROBE_OK 3, PRIV_S, probe_load
  CHECK_EQ 4, s3, s7
  ALIAS s1, test_word, ALIAS_2M_VA
  PROBE_OK 5, PRIV_S, probe_load
  CHECK_EQ 6, s3, s7
  ALIAS s1, test_word, GIGA_VA
  PROBE_OK 7, PRIV_S, probe_load
  CHECK_EQ 8, s3, s7
  ALIAS s1, test_word2, ALIAS_2M_VA
  li s2, 0x55aa
  PROBE_OK 9, PRIV_S, probe_store
  la t0, test_word2
  ld t0, 0(t0)
  CHECK_EQ 10, t0, s2

  /* ---- a U page: U may use it; S only with SUM (§4.3.1); S never executes it */
  li s1, PAGE_VA(PG_USER)
  PROBE_OK 11, PRIV_U, uprobe_load
  CHECK_EQI 12, s3, USER_VALUE
  li s2, USER_VALUE2
  PROBE_OK 13, PRIV_U, uprobe_store
  PROBE_FAULT 14, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  PROBE_FAULT 15, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  li t0, MSTATUS_SUM
  csrs mstatus, t0
  PROBE_OK 16, PRIV_S, probe_load
  CHECK_EQI 17, s3, USER_VALUE2
  PROBE_OK 18, PRIV_S, probe_store
  li s1, PAGE_VA(PG_USER_X)
  PROBE_FETCH_FAULT 19, PRIV_S, probe_fetch, CAUSE_FETCH_PAGE_FAULT
  li t0, MSTATUS_SUM
  csrc mstatus, t0
  PROBE_FETCH_FAULT 20, PRIV_S, probe_fetch, CAUSE_FETCH_PAGE_FAULT
  PROBE_OK 21, PRIV_U, uprobe_fetch

  /* ---- U never reaches a supervisor page */
  li s1, PAGE_VA(PG_SUPER)
  PROBE_FAULT 22, PRIV_U, uprobe_load, CAUSE_LOAD_PAGE_FAULT
  PROBE_FAULT 23, PRIV_U, uprobe_store, CAUSE_STORE_PAGE_FAULT
  la s1, probe_ret
  PROBE_FETCH_FAULT 24, PRIV_U, uprobe_fetch, CAUSE_FETCH_PAGE_FAULT

  /* ---- MXR: loads from execute-only pages */
  li s1, PAGE_VA(PG_XONLY) + 8
  PROBE_FAULT 25, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  li t0, MSTATUS_MXR
  csrs mstatus, t0
  PROBE_OK 26, PRIV_S, probe_load
  CHECK_EQI 27, s3, XONLY_VALUE
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  li s1, PAGE_VA(PG_XONLY)
  PROBE_OK 28, PRIV_S, probe_fetch

  /* ---- permissions */
  li s1, PAGE_VA(PG_RO)
  PROBE_OK 29, PRIV_S, probe_load
  CHECK_EQI 30, s3, RO_VALUE
  PROBE_FAULT 31, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  PROBE_FAULT 32, PRIV_S, probe_amo, CAUSE_STORE_PAGE_FAULT
  li s1, PAGE_VA(PG_NOEXEC)
  PROBE_FETCH_FAULT 33, PRIV_S, probe_fetch, CAUSE_FETCH_PAGE_FAULT

  /* ---- invalid PTE, W without R (reserved), a pointer at the last level */
  li s1, PAGE_VA(PG_INVALID) + 16
  PROBE_FAULT 34, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  PROBE_FAULT 35, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  PROBE_FAULT 36, PRIV_U, uprobe_load, CAUSE_LOAD_PAGE_FAULT
  li s1, PAGE_VA(PG_INVALID)
  PROBE_FETCH_FAULT 37, PRIV_S, probe_fetch, CAUSE_FETCH_PAGE_FAULT
  li s1, PAGE_VA(PG_WONLY)
  PROBE_FAULT 38, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  PROBE_FAULT 39, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  li s1, PAGE_VA(PG_NONLEAF)
  PROBE_FAULT 40, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT

  /* ---- misaligned superpages: "if i > 0 and pte.ppn[i-1:0] != 0, this is a misaligned superpage;
   * stop and raise a page-fault exception" (§4.3.2 step 6) */
  li s1, MISALIGNED_2M_VA + 8
  PROBE_FAULT 41, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  li s1, MISALIGNED_1G_VA + 8
  PROBE_FAULT 42, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT

  /* ---- Sv39 addresses must have bits 63-39 equal to bit 38, "or else a page-fault exception will
   * occur" (§4.4.1); stval is the whole address */
  li s1, 0x0000004000000000
  PROBE_FAULT 43, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  li s1, 0x0000008000000000
  PROBE_FAULT 44, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  li s1, 0x8000000080000000
  PROBE_FETCH_FAULT 45, PRIV_S, probe_fetch, CAUSE_FETCH_PAGE_FAULT
  li s1, 0xffffffc000000000   /* canonical, but root[256] is invalid */
  PROBE_FAULT 46, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT

  /* ---- A and D: set by hardware (tabvm) or a page fault; a load never sets D; A = D = 1 never faults */
  CHECK_AD 47, PG_A_CLEAR, probe_load, CAUSE_LOAD_PAGE_FAULT, PTE_A
  PTE_ADDR t0, l0_alias, PG_A_CLEAR
  ld t0, 0(t0)
  andi t0, t0, PTE_D
  CHECK_EQ 51, t0, zero
  CHECK_AD 52, PG_D_CLEAR, probe_store, CAUSE_STORE_PAGE_FAULT, PTE_D
  CHECK_AD 56, PG_AD_CLEAR, probe_store, CAUSE_STORE_PAGE_FAULT, PTE_A | PTE_D
  li s1, PAGE_VA(PG_AD_SET)
  PROBE_OK 60, PRIV_S, probe_load
  PROBE_OK 61, PRIV_S, probe_store
  PROBE_OK 62, PRIV_S, probe_amo

  /* ---- sfence.vma makes a changed PTE visible (§4.2.1) */
  li s1, PAGE_VA(PG_REMAP)
  PROBE_OK 63, PRIV_S, probe_load
  CHECK_EQI 64, s3, VALUE_A
  la a1, page_b
  SET_PTE l0_alias, PG_REMAP, a1, LEAF_RW
  sfence.vma
  PROBE_OK 65, PRIV_S, probe_load
  CHECK_EQI 66, s3, VALUE_B
  la a1, page_a
  SET_PTE l0_alias, PG_REMAP, a1, LEAF_RW
  sfence.vma s1, zero
  PROBE_OK 67, PRIV_S, probe_load
  CHECK_EQI 68, s3, VALUE_A
  PTE_ADDR t0, l0_alias, PG_REMAP
  sd zero, 0(t0)
  sfence.vma s1, zero
  PROBE_FAULT 69, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  la a1, page_b
  SET_PTE l0_alias, PG_REMAP, a1, LEAF_RW
  CLEAR_TRAP
  ENTER PRIV_S
  sfence.vma s1, zero         /* from S this time */
  ld s3, 0(s1)
  RETURN_TO_M
  EXPECT_NO_TRAP 70
  CHECK_EQI 71, s3, VALUE_B

  /* ---- a satp write with an unsupported MODE has no effect at all (§4.1.11) */
  li t1, (1 << SATP_MODE_SHIFT) - 1
  and t1, s8, t1              /* t1 = ASID and PPN of the current value */
  li t0, 1 << SATP_MODE_SHIFT /* MODE 1: reserved */
  or t0, t0, t1
  csrw satp, t0
  csrr t2, satp
  CHECK_EQ 72, t2, s8
  li t0, 11 << SATP_MODE_SHIFT /* MODE 11: reserved */
  or t0, t0, t1
  csrw satp, t0
  csrr t2, satp
  CHECK_EQ 73, t2, s8
  li t0, SATP_MODE_SV57 << SATP_MODE_SHIFT   /* Sv57: optional (tabvm: not implemented) */
  or t0, t0, t1
  csrw satp, t0
  csrr t2, satp
  beq t2, s8, 1f
  CHECK_EQ 74, t2, t0         /* implemented: then it holds what was written */
1:
  csrw satp, s8
  sfence.vma

  /* ---- M-mode loads through MPRV use MPP's privilege and translation (§3.1.6.3) */
  ALIAS s1, test_word, ALIAS_2M_VA
  CLEAR_TRAP
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV | (PRIV_S << MSTATUS_MPP_SHIFT)
  csrs mstatus, t0
  ld s3, 0(s1)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  EXPECT_NO_TRAP 75
  CHECK_EQ 76, s3, s7
  li s1, PAGE_VA(PG_SUPER)
  CLEAR_TRAP
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV | (PRIV_U << MSTATUS_MPP_SHIFT)
  csrs mstatus, t0
1:
  ld s3, 0(s1)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  EXPECT_TRAP 77, PRIV_M, CAUSE_LOAD_PAGE_FAULT, 1b, s1

  /* ---- a page fault delegated to S: scause, sepc, stval */
  li t0, 1 << CAUSE_LOAD_PAGE_FAULT
  csrw medeleg, t0
  li s1, PAGE_VA(PG_INVALID)
  RUN_PROBE PRIV_S, probe_load
  EXPECT_TRAP 78, PRIV_S, CAUSE_LOAD_PAGE_FAULT, probe_load, s1
  csrw medeleg, zero

  /* ---- Sv48 */
  MAKE_SATP s8, SATP_MODE_SV48, sv48_root
  csrw satp, s8
  sfence.vma
  csrr t0, satp
  CHECK_EQ 79, t0, s8
  la s1, test_word
  PROBE_OK 80, PRIV_S, probe_load
  CHECK_EQ 81, s3, s7
  ALIAS s1, test_word, TERA_VA + DRAM_BASE   /* 512 GiB page at physical 0 */
  PROBE_OK 82, PRIV_S, probe_load
  CHECK_EQ 83, s3, s7
  ALIAS s1, test_word, HI_1G_VA              /* non-canonical under Sv39, mapped under Sv48 */
  PROBE_OK 84, PRIV_S, probe_load
  CHECK_EQ 85, s3, s7
  li s1, MISALIGNED_512G_VA + 8
  PROBE_FAULT 86, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  li s1, 0x0000800000000000  /* bits 63-48 must equal bit 47 */
  PROBE_FAULT 87, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT
  li s1, 0xffff800000000000  /* canonical, root[256] invalid */
  PROBE_FAULT 88, PRIV_S, probe_store, CAUSE_STORE_PAGE_FAULT
  li s1, PAGE_VA(PG_USER)
  PROBE_OK 89, PRIV_U, uprobe_load
  PROBE_FAULT 90, PRIV_S, probe_load, CAUSE_LOAD_PAGE_FAULT

  csrw satp, zero
  sfence.vma
  PASS

/* ------------------------------------------------------------------------------------------------ */

  .pushsection .user_text, "ax", @progbits
  DEFINE_PROBES uprobe_
  .popsection

  .data
  .balign 8
test_word:
  .dword TEST_VALUE
test_word2:
  .dword 0

  .section .bss.vm, "aw", @nobits
  .balign 4096
sv39_root: .zero 4096
l1_dram: .zero 4096
l0_dram: .zero 4096
l1_alias: .zero 4096
l0_alias: .zero 4096
sv48_root: .zero 4096
l2_hi: .zero 4096
user_page: .zero 4096
xonly_page: .zero 4096
ro_page: .zero 4096
noexec_page: .zero 4096
page_a: .zero 4096
page_b: .zero 4096
ad_page: .zero 4096
ad_page2: .zero 4096
ad_page3: .zero 4096
s_page: .zero 4096
ux_page: .zero 4096
ad_page4: .zero 4096
scratch_page: .zero 4096
