#!/usr/bin/env bash
# Rebuilds workers/cpu/fpu-vectors.txt.gz, the reference vectors for workers/cpu/fpu.test.ts, by
# running the real RISC-V F/D instructions (scripts/fpu-vectors/gen.c) under QEMU user mode.
# Needs Debian's gcc-riscv64-linux-gnu and qemu-user-static:
#   apt-get install gcc-riscv64-linux-gnu qemu-user-static
# A bigger local soak run (not committed): add -DSCALE=40 -DSEED=0x1234567887654321ull to the gcc line,
# write the output elsewhere, and point the test at it:
#   FPU_VECTORS=/tmp/big.txt.gz npx vitest run workers/cpu/fpu.test.ts --hookTimeout=600000 -t QEMU
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in riscv64-linux-gnu-gcc qemu-riscv64-static; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install gcc-riscv64-linux-gnu qemu-user-static" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
riscv64-linux-gnu-gcc -static -O1 -march=rv64gc -mabi=lp64d -Wall -o "$tmp/gen" scripts/fpu-vectors/gen.c
qemu-riscv64-static "$tmp/gen" > "$tmp/vectors.txt"
# -n: no name or time stamp, so an unchanged oracle gives a byte-identical file
gzip -9 -n < "$tmp/vectors.txt" > workers/cpu/fpu-vectors.txt.gz
echo "wrote workers/cpu/fpu-vectors.txt.gz: $(wc -l < "$tmp/vectors.txt") lines, $(stat -c %s workers/cpu/fpu-vectors.txt.gz) bytes"
qemu-riscv64-static --version | head -1
