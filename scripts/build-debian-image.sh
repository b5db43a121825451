#!/usr/bin/env bash
# Build tabvm's Debian 13 (trixie) riscv64 disk image into public/images/debian/ (git-ignored: too big to
# commit), for `npm run image:debian`:
#   disk/NNNNNN.gz  an ext4 root file system cut into chunks (format: workers/protocol/disk-image.ts)
#   fw_dynamic.bin, Image  OpenSBI and our kernel, copied from public/images/default/ (the kernel has
#                   virtio-mmio, virtio-blk and ext4 built in, so the disk needs no initramfs)
#   manifest.json   the image manifest (same fields as the default image's) plus `disk` and `snapshot`
#   snapshot.tabvm  the image booted to its prompt: a new VM starts from it (scripts/make-debian-snapshot.ts)
#   mirror/         the package mirror the guest's apt uses in the browser: Debian's signed index files and
#                   the .debs of scripts/image/mirror-packages.txt with their dependencies
#                   (scripts/image/debian-mirror.sh); mirror.sha256 lists its files
#
# Usage: scripts/build-debian-image.sh [--if-stale] [--chunk-size BYTES]
#   --if-stale    do nothing if public/images/debian/ holds an image built from the same recipe (this
#                 script, scripts/image/debian-*, the mirror's package list, the snapshot's scripts, the
#                 default image's kernel and firmware); `npm test` uses it
#   --chunk-size  bytes per disk chunk (default 65536)
#
# The root file system comes from mmdebstrap (--variant=minbase plus the packages below) with riscv64
# binaries run through qemu-user-static and binfmt_misc, which this script registers if it must. The
# system apt configuration is never changed: mmdebstrap uses an apt configuration of its own. Must run as
# root (mmdebstrap's root mode, binfmt_misc, file ownership in the image). Intermediate files live in
# build/debian-image/ (git-ignored).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE_SOURCES="$REPO/scripts/image"
WORK="$REPO/build/debian-image"
OUT="$REPO/public/images/debian"
DEFAULT_IMAGE="$REPO/public/images/default"
SUITE=trixie
# What the issue asks for, plus the init (see scripts/image/debian-rootfs/etc/inittab for why sysvinit)
# and what the console login needs, and the network: ifupdown with dhclient brings eth0 up by DHCP
# (scripts/image/debian-rootfs/etc/network/interfaces), and ping, curl and wget to use it.
PACKAGES=(bash apt coreutils procps iproute2 less nano python3 ca-certificates
	sysvinit-core login mount util-linux
	ifupdown isc-dhcp-client iputils-ping curl wget)
HOST_PACKAGES=(mmdebstrap arch-test qemu-user-static binfmt-support e2fsprogs debian-archive-keyring jq python3 qemu-system-misc)
# Free space left in the file system beyond what the packages fill.
FREE_MIB=256
BOOTARGS="console=ttyS0 earlycon=sbi cryptomgr.notests root=/dev/vda rw"
MEMORY_DEFAULT_MIB=256
# The least RAM (MiB) offered. Measured under QEMU (boot, python3, apt-cache policy): 32 MiB passes, 24 MiB
# boots but apt cannot map its 24 MiB package cache; 48 leaves room for more than one program at a time.
MEMORY_MINIMUM_MIB=48
chunk_size=65536

if_stale=no
while [ $# -gt 0 ]; do
	case "$1" in
	--if-stale) if_stale=yes ;;
	--chunk-size) chunk_size=$2; shift ;;
	-h | --help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

# shellcheck source=image/common.sh
. "$IMAGE_SOURCES/common.sh"

# riscv64 binaries (the packages' maintainer scripts) run on this amd64 host through qemu-user. The F
# flag makes the kernel open the interpreter when it is registered, so it also works inside the chroot.
register_binfmt() {
	log "binfmt_misc: qemu-riscv64"
	local dir=/proc/sys/fs/binfmt_misc
	mountpoint -q "$dir" || mount -t binfmt_misc binfmt_misc "$dir"
	if [ ! -e "$dir/qemu-riscv64" ]; then
		update-binfmts --enable qemu-riscv64 || update-binfmts --import qemu-riscv64
	fi
	[ -e "$dir/qemu-riscv64" ] || die "qemu-riscv64 is not registered in $dir"
	grep -q '^flags: .*F' "$dir/qemu-riscv64" || die "qemu-riscv64 is registered without the F (fix binary) flag"
	cat "$dir/qemu-riscv64"
}

ROOTFS="$WORK/rootfs"
build_rootfs() {
	log "mmdebstrap $SUITE riscv64: minbase + ${PACKAGES[*]}"
	local mirror
	mirror=$(debian_mirror)
	rm -rf "$ROOTFS"
	# --dpkgopt with a file: its lines go to the image's /etc/dpkg/dpkg.cfg.d/, before any package is
	# unpacked, and stay there for packages installed later in the guest.
	# cleanup/apt (mmdebstrap's default) removes the package lists and the downloaded .debs.
	mmdebstrap \
		--mode=root \
		--arch=riscv64 \
		--variant=minbase \
		--include="$(IFS=,; echo "${PACKAGES[*]}")" \
		--dpkgopt="$IMAGE_SOURCES/debian-nodoc.dpkg.cfg" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--customize-hook="sync-in '$IMAGE_SOURCES/debian-rootfs' /" \
		--customize-hook="copy-in '$IMAGE_SOURCES/agent/tabvm-agent' /usr/sbin" \
		--customize-hook='rm -f "$1"/etc/apt/sources.list' \
		--customize-hook='rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id "$1"/var/cache/ldconfig/aux-cache' \
		--customize-hook='rm -rf "$1"/var/log/*.log "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
		--customize-hook='find "$1"/usr -name __pycache__ -prune -exec rm -rf {} +' \
		"$SUITE" "$ROOTFS" "deb $mirror $SUITE main"
	dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${Package} ${Version} ${Architecture}\n' >"$WORK/packages.txt"
	echo "$(wc -l <"$WORK/packages.txt") packages, $(du -sm "$ROOTFS" | cut -f1) MiB"
}

DISK="$WORK/disk.img"
build_ext4() {
	log "ext4 file system (mke2fs -d)"
	local used_mib size_mib chunk_mib
	used_mib=$(du -sm --apparent-size "$ROOTFS" | cut -f1)
	# Room for the metadata (inode tables, journal) on top of the files, then the free space.
	size_mib=$((used_mib * 12 / 10 + FREE_MIB))
	# Whole chunks only: round up to a multiple of the chunk size (in MiB, or 1 MiB if chunks are smaller).
	chunk_mib=$(((chunk_size + 1048575) / 1048576))
	size_mib=$(((size_mib + chunk_mib - 1) / chunk_mib * chunk_mib))
	rm -f "$DISK"
	truncate -s "${size_mib}M" "$DISK"
	# lazy_itable_init=0, lazy_journal_init=0: mke2fs zeroes the inode tables and the journal itself.
	# Otherwise the guest kernel's ext4lazyinit thread would zero them after the first mount: hundreds of
	# MiB written into the browser's copy-on-write overlay for nothing. Zeroed chunks cost no download.
	# -m 1: 1 % reserved for root instead of 5 %: everything in this VM runs as root anyway.
	mke2fs -q -F -t ext4 -L debian -m 1 -d "$ROOTFS" \
		-E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
		"$DISK"
	e2fsck -fn "$DISK" >"$WORK/e2fsck.log" 2>&1 || { cat "$WORK/e2fsck.log"; die "e2fsck finds errors in the new file system"; }
	echo "disk: $size_mib MiB, $used_mib MiB of files"
}

write_output() {
	log "chunks and manifest.json in public/images/debian/"
	rm -rf "$OUT"
	mkdir -p "$OUT"
	# The same firmware and kernel as the default image (see the top of this file).
	install -m 644 "$DEFAULT_IMAGE/fw_dynamic.bin" "$DEFAULT_IMAGE/Image" "$OUT/"
	(cd "$REPO" && node_modules/.bin/tsx scripts/chunk-disk-image.ts "$DISK" "$OUT" --chunk-size "$chunk_size") >"$WORK/disk.json"
	local packages
	packages=$(jq -R 'split(" ") | {name: .[0], version: .[1], architecture: .[2]}' "$WORK/packages.txt" | jq -s .)
	jq -n \
		--argjson bios "$(file_entry fw_dynamic.bin)" \
		--argjson kernel "$(file_entry Image)" \
		--arg bootargs "$BOOTARGS" \
		--argjson memoryDefault "$MEMORY_DEFAULT_MIB" \
		--argjson memoryMinimum "$MEMORY_MINIMUM_MIB" \
		--arg kernelRelease "$(jq -r .kernelRelease "$DEFAULT_IMAGE/manifest.json")" \
		--argjson packages "$packages" \
		--arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--slurpfile disk "$WORK/disk.json" \
		--arg recipe "$(recipe_hash)" \
		'{
			name: "debian",
			title: "Debian 13 (trixie)",
			files: {bios: $bios, kernel: $kernel},
			bootargs: $bootargs,
			memory: {default: $memoryDefault, minimum: $memoryMinimum},
			kernelRelease: $kernelRelease,
			packages: $packages,
			built: $built,
			recipe: $recipe,
			disk: $disk[0]
		}' >"$OUT/manifest.json"
	jq '{name, title, bootargs, memory, kernelRelease, packages: (.packages | length), disk: {size: .disk.size, chunkSize: .disk.chunkSize, chunks: (.disk.chunks | length), compressedBytes: ([.disk.chunks[].compressedSize] | add)}}' "$OUT/manifest.json"
}
file_entry() {
	jq -n --arg path "$1" --argjson size "$(stat -c %s "$OUT/$1")" --arg sha256 "$(sha256sum "$OUT/$1" | cut -d ' ' -f 1)" \
		'{path: $path, size: $size, sha256: $sha256}'
}

MIRROR="$OUT/mirror"
build_mirror() {
	"$IMAGE_SOURCES/debian-mirror.sh" "$(debian_mirror)" "$SUITE" riscv64 "$ROOTFS/var/lib/dpkg/status" \
		"$IMAGE_SOURCES/mirror-packages.txt" "$MIRROR" "$WORK/mirror-cache"
}

# The image booted under tabvm to its prompt and saved; the script adds `snapshot` to manifest.json.
make_snapshot() {
	log "pre-booted snapshot (boots the image under tabvm)"
	(cd "$REPO" && npm run --silent make:debian-snapshot)
}

# One hash of everything the image is made from besides the Debian archive, kept in the manifest as
# `recipe`, so --if-stale can tell whether the image on disk is this recipe's.
recipe_hash() {
	{
		echo "chunk size $chunk_size"
		sha256sum "$0" "$IMAGE_SOURCES/common.sh" "$IMAGE_SOURCES/debian-nodoc.dpkg.cfg" \
			"$IMAGE_SOURCES/debian-mirror.sh" "$IMAGE_SOURCES/mirror-packages.txt" "$DEFAULT_IMAGE/fw_dynamic.bin" "$DEFAULT_IMAGE/Image" \
			"$REPO/scripts/make-debian-snapshot.ts" "$REPO/scripts/lib/debian-clock.ts" \
			"$IMAGE_SOURCES/agent/tabvm-agent" | cut -d ' ' -f 1
		(cd "$IMAGE_SOURCES/debian-rootfs" && find . -type f | LC_ALL=C sort | xargs sha256sum)
	} | sha256sum | cut -d ' ' -f 1
}

# The manifest exists, is this recipe's, and every file it lists is there (an interrupted build leaves
# no snapshot), and so is every file of the package mirror.
image_is_current() {
	[ -f "$OUT/manifest.json" ] || return 1
	[ "$(jq -r '.recipe // ""' "$OUT/manifest.json")" = "$(recipe_hash)" ] || return 1
	[ -f "$OUT/$(jq -r '.snapshot.path // "no snapshot"' "$OUT/manifest.json")" ] || return 1
	local index
	for index in $(jq -r '.disk.chunks[].index' "$OUT/manifest.json"); do
		[ -f "$OUT/disk/$(printf '%06d' "$index").gz" ] || return 1
	done
	[ -f "$MIRROR.sha256" ] || return 1
	(cd "$MIRROR" && sha256sum --check --quiet --status "$MIRROR.sha256") || return 1
}

if [ "$if_stale" = yes ] && image_is_current; then
	echo "public/images/debian/ is up to date (built $(jq -r .built "$OUT/manifest.json"))"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "building the Debian image needs root (mmdebstrap's root mode, binfmt_misc, root-owned files in the image): sudo npm run image:debian"
[ -f "$DEFAULT_IMAGE/manifest.json" ] || die "no default image in $DEFAULT_IMAGE"
mkdir -p "$WORK"
start=$(date +%s)
install_host_tools
register_binfmt
build_rootfs
build_ext4
write_output
build_mirror
make_snapshot
echo "built in $(($(date +%s) - start)) s"
