#!/usr/bin/env bash
# Build tabvm's default guest image from Debian packages:
#   fw_dynamic.bin  OpenSBI, generic platform, from trixie's `opensbi` package
#   Image           Linux from Debian's `linux-source`, our config (scripts/image/kernel.config)
#   initramfs       trixie riscv64 `busybox-static` + scripts/image/rootfs (/init, /etc)
# into public/images/default/ with a manifest.json (sizes, sha256, package versions).
#
# Usage: scripts/build-default-image.sh [--check] [--check-only] [--initramfs-only] [--clean] [--jobs N]
#   --check       after building, boot the result under qemu-system-riscv64 (scripts/image/smoke-test.py)
#   --initramfs-only  rebuild only the initramfs (after a change to scripts/image/rootfs): the committed
#                 Image and fw_dynamic.bin stay, and so do their manifest entries; gen_init_cpio is
#                 compiled alone from the linux-source package the manifest names, no kernel tree
#   --check-only  only run that check on the files already in public/images/default/
#   --clean       throw away the kernel build tree first (otherwise the rebuild is incremental)
#   --jobs N      make -j N for the kernel (default 2: the build machine is shared)
#
# Running it again rebuilds every output. Intermediate trees live in build/default-image/ (git-ignored).
# The system apt configuration is never changed: riscv64 packages come through a private apt
# configuration in build/default-image/apt/ (see DESIGN.md §3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE_SOURCES="$REPO/scripts/image"
WORK="$REPO/build/default-image"
OUT="$REPO/public/images/default"
TRIXIE_PACKAGES=(busybox-static opensbi)
HOST_PACKAGES=(gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu linux-source make bc flex bison libssl-dev libelf-dev
	cpio gzip xz-utils jq python3 debian-archive-keyring qemu-user-static qemu-system-misc)
# How the image boots: the initramfs format (see build_initramfs for why gzip) and the kernel
# command line that goes into the manifest.
INITRD_NAME=initramfs.cpio.gz
BOOTARGS="console=ttyS0 earlycon=sbi cryptomgr.notests"
MEMORY_DEFAULT_MIB=256
# The least RAM (MiB) with which this image still passes the smoke test (found by running
# scripts/image/smoke-test.py --memory N with decreasing N; re-measure when the image changes).
MEMORY_MINIMUM_MIB=${MEMORY_MINIMUM_MIB:-16}

check=no
build=yes
clean=no
jobs=2
while [ $# -gt 0 ]; do
	case "$1" in
	--check) check=yes ;;
	--check-only) check=yes build=no ;;
	--initramfs-only) build=initramfs ;;
	--clean) clean=yes ;;
	--jobs) jobs=$2; shift ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

# shellcheck source=image/common.sh
. "$IMAGE_SOURCES/common.sh"

# --- riscv64 packages from trixie through a private apt configuration ---------------------------
APT_DIR="$WORK/apt"
apt_private() {
	apt-get \
		-o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts=/dev/null \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::State::status="$APT_DIR/status" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o APT::Architecture=riscv64 \
		-o APT::Architectures=riscv64 \
		"$@"
}

fetch_trixie_packages() {
	log "trixie riscv64 packages: ${TRIXIE_PACKAGES[*]}"
	local mirror
	mirror=$(debian_mirror)
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
	echo "deb [arch=riscv64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$APT_DIR/sources.list"
	# An empty dpkg status: the host's installed packages (amd64, bookworm) are not ours.
	: >"$APT_DIR/status"
	apt_private update
	rm -f "$APT_DIR/debs"/*.deb
	# apt downloads as the unprivileged _apt user when it can write to the target directory.
	chown _apt "$APT_DIR/debs" 2>/dev/null || true
	(cd "$APT_DIR/debs" && apt_private download "${TRIXIE_PACKAGES[@]}")
	local package deb
	for package in "${TRIXIE_PACKAGES[@]}"; do
		deb=$(ls "$APT_DIR/debs/${package}"_*.deb)
		rm -rf "$WORK/pkg/$package"
		mkdir -p "$WORK/pkg/$package"
		dpkg -x "$deb" "$WORK/pkg/$package"
		printf '%s %s %s\n' "$package" "$(dpkg-deb -f "$deb" Version)" "$(dpkg-deb -f "$deb" Architecture)"
	done >"$WORK/trixie-packages.txt"
	cat "$WORK/trixie-packages.txt"
}

# --- OpenSBI --------------------------------------------------------------------------------------
OPENSBI_FW=usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
copy_opensbi() {
	log "OpenSBI fw_dynamic.bin (generic platform, riscv64)"
	# opensbi is Architecture: all; it carries riscv32 and riscv64 builds side by side.
	[ -f "$WORK/pkg/opensbi/$OPENSBI_FW" ] || die "no $OPENSBI_FW in the opensbi package"
	install -m 644 "$WORK/pkg/opensbi/$OPENSBI_FW" "$OUT/fw_dynamic.bin"
	echo "fw_dynamic.bin: $(stat -c %s "$OUT/fw_dynamic.bin") bytes"
}

# --- Linux -----------------------------------------------------------------------------------------
KERNEL_TREE="$WORK/linux"
KERNEL_FRAGMENT="$IMAGE_SOURCES/kernel.config"
# Fixed build identity (the `uname -v` string) so that the same sources give the same Image and a
# rebuild does not churn the committed file: user, host, build number, and the date of the
# linux-source tarball instead of the time of the build.
kmake() {
	make -C "$KERNEL_TREE" ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- \
		KBUILD_BUILD_USER=tabvm KBUILD_BUILD_HOST=debian KBUILD_BUILD_VERSION=1 \
		KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$(stat -c %Y "$(linux_source_tarball)")" '+%Y-%m-%d')" "$@"
}

linux_source_tarball() {
	local tarball
	# linux-source is a metapackage; the versioned linux-source-X.Y package ships the tarball.
	tarball=$(dpkg -L "$(linux_source_package)" | grep -m1 '/usr/src/linux-source-.*\.tar\.xz$') ||
		die "linux-source ships no tarball"
	echo "$tarball"
}
linux_source_package() {
	dpkg-query -W -f '${Depends}' linux-source | sed -E 's/^(linux-source-[0-9.]+).*/\1/'
}

build_kernel() {
	local tarball stamp
	tarball=$(linux_source_tarball)
	stamp="$(linux_source_package) $(dpkg-query -W -f '${Version}' "$(linux_source_package)")"
	if [ "$clean" = yes ] || [ ! -f "$KERNEL_TREE/.tabvm-source" ] || [ "$(cat "$KERNEL_TREE/.tabvm-source")" != "$stamp" ]; then
		log "unpacking $tarball"
		rm -rf "$KERNEL_TREE" "$WORK/linux-unpack"
		mkdir -p "$WORK/linux-unpack"
		tar -xf "$tarball" -C "$WORK/linux-unpack"
		mv "$WORK/linux-unpack"/linux-source-* "$KERNEL_TREE"
		rmdir "$WORK/linux-unpack"
		echo "$stamp" >"$KERNEL_TREE/.tabvm-source"
	fi

	log "kernel config: allnoconfig + scripts/image/kernel.config"
	kmake -s allnoconfig
	# -m: merge into the existing .config; olddefconfig then resolves dependencies.
	(cd "$KERNEL_TREE" && ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- scripts/kconfig/merge_config.sh -m .config "$KERNEL_FRAGMENT") >"$WORK/merge_config.log"
	kmake -s olddefconfig
	verify_kernel_config

	log "kernel build (make -j$jobs Image)"
	kmake -j"$jobs" Image
	verify_kernel_config
	install -m 644 "$KERNEL_TREE/arch/riscv/boot/Image" "$OUT/Image"
	cp "$KERNEL_TREE/.config" "$WORK/kernel.config.full"
	echo "Image: $(stat -c %s "$OUT/Image") bytes, $(kmake -s kernelrelease)"
}

# Every option the fragment sets must be in the final .config with that value, and every option
# it turns off must not be =y: a silently dropped option (unmet dependency, renamed symbol) is the
# usual way a kernel config rots.
verify_kernel_config() {
	local line name bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" "$KERNEL_TREE/.config" || {
				name=${line%%=*}
				echo "kernel config: wanted $line, got: $(grep -E "^(# )?${name}[= ]" "$KERNEL_TREE/.config" || echo 'absent')" >&2
				bad=1
			}
			;;
		"# CONFIG_"*" is not set")
			name=${line#\# }
			name=${name%% *}
			if grep -q "^$name=" "$KERNEL_TREE/.config"; then
				echo "kernel config: wanted $name off, got: $(grep "^$name=" "$KERNEL_TREE/.config")" >&2
				bad=1
			fi
			;;
		esac
	done <"$KERNEL_FRAGMENT"
	[ "$bad" -eq 0 ] || die "the kernel .config does not match scripts/image/kernel.config (see above)"
	echo "kernel config: every option of scripts/image/kernel.config is as asked"
}

# --- initramfs -------------------------------------------------------------------------------------
build_initramfs() {
	log "initramfs from busybox-static + scripts/image/rootfs"
	local root="$WORK/initramfs" busybox="$WORK/pkg/busybox-static/usr/bin/busybox" applet dir target count=0
	[ -x "$busybox" ] || die "no usr/bin/busybox in busybox-static"
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,mnt,etc,var}
	chmod 1777 "$root/tmp"
	chmod 700 "$root/root"
	ln -s ../run "$root/var/run"
	install -m 755 "$busybox" "$root/bin/busybox"
	# `busybox --install -s` would have to run inside the guest; ask the same riscv64 binary for
	# its applet list under qemu-user instead, so the links match exactly what it was built with.
	qemu-riscv64-static "$busybox" --list-full >"$WORK/busybox-applets.txt"
	[ -s "$WORK/busybox-applets.txt" ] || die "busybox --list-full under qemu-riscv64-static printed nothing"
	while IFS= read -r applet; do
		dir=$(dirname "$applet")
		[ -e "$root/$applet" ] && continue
		# Relative links: ../bin/busybox from sbin, ../../bin/busybox from usr/bin.
		target=$(realpath -m --relative-to="$root/$dir" "$root/bin/busybox")
		mkdir -p "$root/$dir"
		ln -s "$target" "$root/$applet"
		count=$((count + 1))
	done <"$WORK/busybox-applets.txt"
	echo "busybox applet links: $count"
	cp -a "$IMAGE_SOURCES/rootfs/." "$root/"
	chmod 755 "$root/init"
	# The guest agent, the same script as the Debian image's (docs/guest-agent.md).
	install -m 755 "$IMAGE_SOURCES/agent/tabvm-agent" "$root/usr/sbin/tabvm-agent"
	# The kernel opens /dev/console for /init's stdin/stdout/stderr before anything mounts
	# devtmpfs, and /init redirects to /dev/null before that mount too, so both nodes belong in the
	# archive (the kernel's built-in default initramfs has /dev/console, but do not lean on it).
	# The kernel's own gen_init_cpio writes device nodes from a text list, without mknod on the
	# host and with root ownership whoever runs the build.
	local list="$WORK/initramfs.list"
	{
		echo "dir /dev 755 0 0"
		echo "nod /dev/console 600 0 0 c 5 1"
		echo "nod /dev/null 666 0 0 c 1 3"
		(cd "$root" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r path; do
			path=${path#./}
			[ "$path" = dev ] && continue
			local mode
			mode=$(stat -c %a "$root/$path")
			if [ -L "$root/$path" ]; then
				echo "slink /$path $(readlink "$root/$path") $mode 0 0"
			elif [ -d "$root/$path" ]; then
				echo "dir /$path $mode 0 0"
			else
				echo "file /$path $root/$path $mode 0 0"
			fi
		done
	} >"$list"
	# gen_init_cpio is built with the kernel tree's host tools (usr/gen_init_cpio); build it alone.
	[ -n "${GEN_INIT_CPIO:-}" ] || {
		kmake -s usr/gen_init_cpio
		GEN_INIT_CPIO="$KERNEL_TREE/usr/gen_init_cpio"
	}
	# One fixed time for every entry, so the same inputs give the same archive: -t covers
	# directories, links and nodes; regular files keep their own mtime, so set those too. The
	# default is the date busybox-static's binary carries (dpkg -x keeps it).
	local epoch
	epoch=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$busybox")}
	find "$root" -exec touch -h -d "@$epoch" {} +
	"$GEN_INIT_CPIO" -t "$epoch" "$list" >"$WORK/initramfs.cpio"
	# gzip rather than zstd, because every guest instruction is emulated: measured under QEMU with
	# -icount shift=0 (1 ns of guest time per instruction), Linux 6.1 reaches /init after ~33 M
	# instructions with this archive uncompressed, ~65 M gzip'ed (-6 or -9 alike), ~88 M with
	# zstd -3 and ~113 M with zstd -19. zstd -19 would save only ~90 KB of the ~1 MB download.
	# -n: no name or time stamp in the header, so the same archive gives the same bytes.
	gzip -9 -n -c "$WORK/initramfs.cpio" >"$OUT/$INITRD_NAME"
	echo "initramfs: $(stat -c %s "$WORK/initramfs.cpio") bytes of cpio, $(stat -c %s "$OUT/$INITRD_NAME") bytes compressed"
}

# --- manifest --------------------------------------------------------------------------------------
file_entry() {
	jq -n --arg path "$1" --argjson size "$(stat -c %s "$OUT/$1")" --arg sha256 "$(sha256sum "$OUT/$1" | cut -d ' ' -f 1)" \
		'{path: $path, size: $size, sha256: $sha256}'
}
package_entry() {
	jq -n --arg name "$1" --arg version "$2" --arg architecture "$3" '{name: $name, version: $version, architecture: $architecture}'
}
write_manifest() {
	log "manifest.json"
	local linux_package compiler_package packages
	linux_package=$(linux_source_package)
	# gcc-riscv64-linux-gnu is a metapackage; record the versioned compiler that really ran too.
	compiler_package=$(dpkg -S "$(readlink -f "$(command -v riscv64-linux-gnu-gcc)")" | cut -d : -f 1)
	packages=$(
		{
			package_entry linux-source "$(dpkg-query -W -f '${Version}' linux-source)" "$(dpkg-query -W -f '${Architecture}' linux-source)"
			package_entry "$linux_package" "$(dpkg-query -W -f '${Version}' "$linux_package")" "$(dpkg-query -W -f '${Architecture}' "$linux_package")"
			while read -r name version architecture; do package_entry "$name" "$version" "$architecture"; done <"$WORK/trixie-packages.txt"
			package_entry gcc-riscv64-linux-gnu "$(dpkg-query -W -f '${Version}' gcc-riscv64-linux-gnu)" "$(dpkg-query -W -f '${Architecture}' gcc-riscv64-linux-gnu)"
			package_entry "$compiler_package" "$(dpkg-query -W -f '${Version}' "$compiler_package")" "$(dpkg-query -W -f '${Architecture}' "$compiler_package")"
		} | jq -s .
	)
	jq -n \
		--argjson bios "$(file_entry fw_dynamic.bin)" \
		--argjson kernel "$(file_entry Image)" \
		--argjson initrd "$(file_entry "$INITRD_NAME")" \
		--arg bootargs "$BOOTARGS" \
		--argjson memoryDefault "$MEMORY_DEFAULT_MIB" \
		--argjson memoryMinimum "$MEMORY_MINIMUM_MIB" \
		--arg kernelRelease "$(kmake -s kernelrelease)" \
		--argjson packages "$packages" \
		--arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		'{
			name: "default",
			title: "tabvm default (busybox)",
			files: {bios: $bios, kernel: $kernel, initrd: $initrd},
			bootargs: $bootargs,
			memory: {default: $memoryDefault, minimum: $memoryMinimum},
			kernelRelease: $kernelRelease,
			packages: $packages,
			built: $built
		}' >"$OUT/manifest.json"
	cat "$OUT/manifest.json"
}

# --- QEMU check --------------------------------------------------------------------------------------
run_check() {
	log "smoke test under QEMU virt"
	mkdir -p "$WORK"
	python3 "$IMAGE_SOURCES/smoke-test.py" --manifest "$OUT/manifest.json" --log "$WORK/smoke-test.log"
}

# --- initramfs only ------------------------------------------------------------------------------------
# gen_init_cpio is one C file with no kernel headers: compile it from the tarball of the linux-source
# package that built the committed Image (the manifest names it), downloaded into $WORK.
build_gen_init_cpio() {
	local package deb tarball
	package=$(jq -r '.packages[] | select(.name | startswith("linux-source-")) | "\(.name)=\(.version)"' "$OUT/manifest.json")
	[ -n "$package" ] || die "the manifest names no linux-source-X.Y package"
	log "gen_init_cpio from $package"
	mkdir -p "$WORK/linux-source"
	rm -f "$WORK/linux-source"/*.deb
	(cd "$WORK/linux-source" && apt-get download "$package")
	deb=$(ls "$WORK/linux-source"/*.deb)
	tarball=$(dpkg-deb -c "$deb" | grep -o './usr/src/linux-source-.*\.tar\.xz$')
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | tar -xJO --wildcards '*/usr/gen_init_cpio.c' >"$WORK/gen_init_cpio.c"
	gcc -O2 -o "$WORK/gen_init_cpio" "$WORK/gen_init_cpio.c"
	GEN_INIT_CPIO="$WORK/gen_init_cpio"
}

# The manifest as it was, with the new initramfs and the busybox-static it holds.
update_manifest_initramfs() {
	log "manifest.json (initramfs)"
	local busybox
	busybox=$(grep '^busybox-static ' "$WORK/trixie-packages.txt")
	jq --argjson initrd "$(file_entry "$INITRD_NAME")" \
		--argjson busybox "$(package_entry $busybox)" \
		--arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		'.files.initrd = $initrd
		| .packages = [.packages[] | if .name == "busybox-static" then $busybox else . end]
		| .built = $built' "$OUT/manifest.json" >"$WORK/manifest.json"
	mv "$WORK/manifest.json" "$OUT/manifest.json"
	cat "$OUT/manifest.json"
}

if [ "$build" = initramfs ]; then
	[ -f "$OUT/manifest.json" ] && [ -f "$OUT/Image" ] || die "--initramfs-only needs a built image in $OUT"
	mkdir -p "$WORK"
	fetch_trixie_packages
	build_gen_init_cpio
	build_initramfs
	update_manifest_initramfs
fi

if [ "$build" = yes ]; then
	install_host_tools
	mkdir -p "$WORK" "$OUT"
	# Everything in $OUT is this script's; clear it so no output of an earlier layout lingers.
	rm -f "$OUT"/fw_dynamic.bin "$OUT"/Image "$OUT"/initramfs.cpio* "$OUT"/manifest.json
	fetch_trixie_packages
	copy_opensbi
	build_kernel
	build_initramfs
	write_manifest
fi
if [ "$check" = yes ]; then
	run_check
fi
