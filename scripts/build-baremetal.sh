#!/usr/bin/env bash
# Builds the bare-metal guest tests in tests/baremetal/ into tests/baremetal/bin/*.elf.
# The ELFs are committed, so CI and the emulator's tests need no cross compiler; run this after
# changing a test and commit the new binaries with it.
#
#   scripts/build-baremetal.sh          build every program
#   scripts/build-baremetal.sh --qemu   build, then run each under qemu-system-riscv64 (the reference:
#                                       each must exit 0 through the SiFive test finisher)
#   PROGRAMS="vm pmp" scripts/...       only these programs (TOHOST_KINDS="sd sc.d": only these tohost-*,
#                                       SMP_PROGRAMS="smp-ipi": only these multi-hart programs)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/tests/baremetal
out=$src/bin
CC=${CROSS_COMPILE:-riscv64-linux-gnu-}gcc
programs=(${PROGRAMS:-traps interrupts pmp vm atomics pma})
# tohost.S is built once per kind of store that ends it (tohost-<kind>.elf, -DSTORE_<kind with _ for .>).
tohost_kinds=(${TOHOST_KINDS:-sd sw sh sb fsd fsw c.sd c.sw c.sdsp c.swsp c.fsd c.fsdsp amoswap.d amoswap.w
  amoadd.d amoadd.w amoor.w amoxor.d amomax.w amomaxu.d sc.d sc.w loop})
# exit-code.S is built once per tohost value (exit-code/<name>.elf, -DTOHOST_VALUE=<value>), in a
# directory of its own: these programs fail on purpose, so neither tests/baremetal.test.ts nor --qemu
# runs them. 7: exit code 7; 256: exit code 256; all-ones: every bit set.
exit_values=(${EXIT_VALUES:-7=15 256=0x201 all-ones=-1})
# smp-*.S → smp/<name>.elf: multi-hart programs without the harness (smp.h), in a directory of their
# own because they need two harts (tests/baremetal.test.ts runs them with --smp 2, --qemu with -smp 2).
smp_programs=(${SMP_PROGRAMS:-smp-ipi smp-fencei})

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-baremetal: $CC not found; installing gcc-riscv64-linux-gnu" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
  $sudo apt-get install -y --no-install-recommends gcc-riscv64-linux-gnu >&2 ||
    { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends gcc-riscv64-linux-gnu >&2; }
fi

# -fno-pie: Debian's cross gcc defaults to PIE, which turns `la` into GOT loads.
# --build-id=none: no note section ahead of _start, which must sit at 0x8000_0000.
# max-page-size=64: no page-sized padding in the files (nothing maps them with mmap).
flags=(
  -march=rv64gc -mabi=lp64d -mcmodel=medany
  -nostdlib -nostartfiles -static -fno-pie -no-pie
  -Wl,--build-id=none -Wl,-z,max-page-size=64 -Wl,--no-warn-rwx-segments
  -I "$src" -T "$src/link.ld"
)

check_size() {
  local size
  size=$(stat -c %s "$out/$1.elf")
  if (( size > 20480 )); then
    echo "build-baremetal: $1.elf is $size bytes (limit 20 KiB)" >&2
    exit 1
  fi
  echo "built tests/baremetal/bin/$1.elf ($size bytes)"
}

mkdir -p "$out"
objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT
# Objects first, then the link: linking .S files directly leaves gcc's random temporary names in the
# symbol table, and the committed ELFs should be reproducible byte for byte.
"$CC" "${flags[@]}" -c -o "$objs/harness.o" "$src/harness.S"
for p in "${programs[@]}"; do
  "$CC" "${flags[@]}" -c -o "$objs/$p.o" "$src/$p.S"
  "$CC" "${flags[@]}" -o "$out/$p.elf" "$objs/harness.o" "$objs/$p.o"
  check_size "$p"
done
for kind in "${tohost_kinds[@]}"; do
  "$CC" "${flags[@]}" "-DSTORE_${kind//./_}" -c -o "$objs/tohost-$kind.o" "$src/tohost.S"
  "$CC" "${flags[@]}" -o "$out/tohost-$kind.elf" "$objs/tohost-$kind.o"
  check_size "tohost-$kind"
  programs+=("tohost-$kind")
done

mkdir -p "$out/exit-code"
for entry in "${exit_values[@]}"; do
  name=${entry%%=*}
  "$CC" "${flags[@]}" "-DTOHOST_VALUE=${entry#*=}" -c -o "$objs/exit-$name.o" "$src/exit-code.S"
  "$CC" "${flags[@]}" -o "$out/exit-code/$name.elf" "$objs/exit-$name.o"
  check_size "exit-code/$name"
done

mkdir -p "$out/smp"
for p in "${smp_programs[@]}"; do
  "$CC" "${flags[@]}" -c -o "$objs/$p.o" "$src/$p.S"
  "$CC" "${flags[@]}" -o "$out/smp/$p.elf" "$objs/$p.o"
  check_size "smp/$p"
done

if [[ "${1:-}" == "--qemu" ]]; then
  if ! command -v qemu-system-riscv64 >/dev/null 2>&1; then
    echo "build-baremetal: qemu-system-riscv64 not found (Debian package qemu-system-misc)" >&2
    exit 1
  fi
  failed=0
  for p in "${programs[@]}"; do
    if timeout 10 qemu-system-riscv64 -machine virt -m 128M -nographic -bios "$out/$p.elf" </dev/null; then
      echo "qemu: $p passed"
    else
      echo "qemu: $p FAILED (exit $?)"
      failed=$((failed + 1))
    fi
  done
  for p in "${smp_programs[@]}"; do
    if timeout 60 qemu-system-riscv64 -machine virt -smp 2 -m 128M -nographic -bios "$out/smp/$p.elf" </dev/null; then
      echo "qemu: smp/$p passed (2 harts)"
    else
      echo "qemu: smp/$p FAILED (exit $?)"
      failed=$((failed + 1))
    fi
  done
  exit $(( failed > 0 ))
fi
