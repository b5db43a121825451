#!/bin/sh
# Regenerates the binutils oracles for the CPU's decode tests (run from anywhere; needs Debian's
# binutils-riscv64-linux-gnu, which this installs if it is missing):
#   workers/cpu/rvc-vectors.bin.gz    every 16-bit RVC parcel → its 32-bit expansion (rvc.test.ts)
#   workers/cpu/disasm-vectors.json   objdump's text for a fixed instruction list (disasm.test.ts)
# The outputs are committed; regenerate them only when the generators change, and say which binutils
# version produced them (both scripts print it).
set -eu
cd "$(dirname "$0")/../.."
if ! command -v riscv64-linux-gnu-objdump >/dev/null 2>&1; then
  apt-get install -y binutils-riscv64-linux-gnu
fi
riscv64-linux-gnu-objdump --version | head -n 1
npx tsx scripts/rvc-vectors/rvc-vectors.ts
npx tsx scripts/rvc-vectors/disasm-vectors.ts
