#!/usr/bin/env bash
# Builds the bare-metal guest tests in tests/baremetal/ into tests/baremetal/bin/*.elf.
# The ELFs are committed, so CI and the emulator's tests need no cross compiler; run this after
# changing a test and commit the new binaries with it.
#
#   scripts/build-baremetal.sh          build every program
#   scripts/build-baremetal.sh --qemu   build, then run each under qemu-system-riscv64 (the reference:
#                                       each must exit 0 through the SiFive test finisher)
#   PROGRAMS="vm pmp" scripts/...       only these programs
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/tests/baremetal
out=$src/bin
CC=${CROSS_COMPILE:-riscv64-linux-gnu-}gcc
programs=(${PROGRAMS:-traps interrupts pmp vm atomics})

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

mkdir -p "$out"
objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT
# Objects first, then the link: linking .S files directly leaves gcc's random temporary names in the
# symbol table, and the committed ELFs should be reproducible byte for byte.
"$CC" "${flags[@]}" -c -o "$objs/harness.o" "$src/harness.S"
for p in "${programs[@]}"; do
  "$CC" "${flags[@]}" -c -o "$objs/$p.o" "$src/$p.S"
  "$CC" "${flags[@]}" -o "$out/$p.elf" "$objs/harness.o" "$objs/$p.o"
  size=$(stat -c %s "$out/$p.elf")
  if (( size > 20480 )); then
    echo "build-baremetal: $p.elf is $size bytes (limit 20 KiB)" >&2
    exit 1
  fi
  echo "built tests/baremetal/bin/$p.elf ($size bytes)"
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
  exit $(( failed > 0 ))
fi
