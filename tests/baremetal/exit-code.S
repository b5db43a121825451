/*
 * Ends at once by writing one chosen value to tohost, chosen when it is built: -DTOHOST_VALUE=<value>
 * (scripts/build-baremetal.sh builds one exit-code/<name>.elf per value). It checks how the runner turns a
 * guest exit code into its own exit status (tests/cli.test.ts): by the riscv-tests convention a value
 * (code << 1) | 1 fails with `code`, which may be far beyond what a process exit status holds.
 *
 * Not for QEMU, which has no tohost: it would spin at the end forever.
 */
#include "harness.h"

  .section .text.init, "ax", @progbits
  .globl _start
_start:
  li t0, TOHOST_VALUE
  la t1, tohost
  sd t0, 0(t1)
1:
  j 1b

  TOHOST_WORDS
