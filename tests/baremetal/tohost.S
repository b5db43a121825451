/*
 * Ends by writing tohost = 1 with one kind of store, chosen when it is built: -DSTORE_<kind>, e.g.
 * -DSTORE_amoswap_d (scripts/build-baremetal.sh builds one tohost-<kind>.elf per kind). The runner must
 * end at that store whatever wrote it: a plain, FP or compressed store, an AMO, a successful SC, or a
 * store in a hot loop (which the JIT translates). After it the program reports a pass to the SiFive
 * test device, for QEMU, which has no tohost; tests/baremetal.test.ts therefore also checks that tabvm
 * stopped at tohost rather than at that poweroff.
 *
 * Needs no harness: a trap fails with code 2, a failed SC with code 3.
 */
#include "harness.h"

#define MSTATUS_FS_INITIAL (1 << 13)

  .option norvc
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  la t0, trap
  csrw mtvec, t0
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  /* The value in a0 and fa0 (fa1 for single precision), the address in a1 and sp: registers every
   * kind can name, compressed ones included. */
  li a0, 1
  la a1, tohost
  mv sp, a1
  fmv.d.x fa0, a0
  fmv.w.x fa1, a0

#if defined(STORE_sd)
  sd a0, 0(a1)
#elif defined(STORE_sw)
  sw a0, 0(a1)
#elif defined(STORE_sh)
  sh a0, 0(a1)
#elif defined(STORE_sb)
  sb a0, 0(a1)
#elif defined(STORE_fsd)
  fsd fa0, 0(a1)
#elif defined(STORE_fsw)
  fsw fa1, 0(a1)
#elif defined(STORE_c_sd)
  .option rvc
  c.sd a0, 0(a1)
#elif defined(STORE_c_sw)
  .option rvc
  c.sw a0, 0(a1)
#elif defined(STORE_c_sdsp)
  .option rvc
  c.sdsp a0, 0(sp)
#elif defined(STORE_c_swsp)
  .option rvc
  c.swsp a0, 0(sp)
#elif defined(STORE_c_fsd)
  .option rvc
  c.fsd fa0, 0(a1)
#elif defined(STORE_c_fsdsp)
  .option rvc
  c.fsdsp fa0, 0(sp)
#elif defined(STORE_amoswap_d)
  amoswap.d zero, a0, (a1)
#elif defined(STORE_amoswap_w)
  amoswap.w zero, a0, (a1)
#elif defined(STORE_amoadd_d)
  amoadd.d zero, a0, (a1)
#elif defined(STORE_amoadd_w)
  amoadd.w zero, a0, (a1)
#elif defined(STORE_amoor_w)
  amoor.w zero, a0, (a1)
#elif defined(STORE_amoxor_d)
  amoxor.d zero, a0, (a1)
#elif defined(STORE_amomax_w)
  amomax.w zero, a0, (a1)
#elif defined(STORE_amomaxu_d)
  amomaxu.d zero, a0, (a1)
#elif defined(STORE_sc_d)
  lr.d a2, (a1)
  sc.d a2, a0, (a1)
  bnez a2, sc_failed
#elif defined(STORE_sc_w)
  lr.w a2, (a1)
  sc.w a2, a0, (a1)
  bnez a2, sc_failed
#elif defined(STORE_loop)
  /* 1000 passes through one block that stores (pass == last) to tohost: 0, which the runner ignores,
   * and 1 the last time, long after the block became hot. */
  li t2, 1000
1:
  addi t3, t2, -1
  seqz t3, t3
  sd t3, 0(a1)
  addi t2, t2, -1
  bnez t2, 1b
#else
#error "choose the kind of store with -DSTORE_<kind>"
#endif

  .option norvc
  li t0, SIFIVE_TEST_BASE
  li t1, SIFIVE_TEST_PASS
  sw t1, 0(t0)
  j .

sc_failed:
  li a2, 3
  j fail
  .balign 4
trap:
  li a2, 2
fail:
  EXIT_WITH a2
  j .

  TOHOST_WORDS
