#!/usr/bin/env bash
# Builds the SMP test initramfs: the default image's initramfs with tests/guest/smptest.c (static, -O2,
# pthreads) added as /bin/smptest, for tests/smp-stress.test.ts (`npm run vm -- --initrd` with it).
#
#   scripts/build-test-initramfs.sh [OUT]   OUT: default build/test-initramfs/initramfs.cpio.gz
#
# Nothing built here is committed. Linux unpacks an initramfs made of several cpio archives one after
# the other (Documentation/driver-api/early-userspace/buffer-format.rst: "the initramfs buffer ... may
# be a concatenation of several"), so the result is the image's own archive, unchanged, followed by a
# gzip-compressed newc archive of the one file. Needs gcc-riscv64-linux-gnu, libc6-dev-riscv64-cross
# (libc.a, libpthread) and cpio, the Debian packages .ci/run installs. Rebuilds only when an input is newer.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/test-initramfs/initramfs.cpio.gz}
base=$root/public/images/default/initramfs.cpio.gz
src=$root/tests/guest/smptest.c
CC=${CROSS_COMPILE:-riscv64-linux-gnu-}gcc

if [[ -f "$out" && "$out" -nt "$base" && "$out" -nt "$src" && "$out" -nt "$0" ]]; then
  echo "$out is up to date"
  exit 0
fi
for tool in "$CC" cpio gzip; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-test-initramfs: $tool not found (see .ci/run)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$(dirname "$out")"
"$CC" -O2 -static -pthread -Wall -Wextra -Werror -march=rv64gc -mabi=lp64d -o "$work/root/bin/smptest" "$src"
(cd "$work/root" && printf '%s\n' bin/smptest | cpio --quiet -o -H newc -R 0:0) | gzip -9 >"$work/extra.cpio.gz"
cat "$base" "$work/extra.cpio.gz" >"$work/initramfs.cpio.gz"
mv "$work/initramfs.cpio.gz" "$out"
echo "built $out ($(stat -c %s "$out") bytes)"
