#!/usr/bin/env bash
# Writes the Debian image's package mirror (docs/images.md, "The package mirror"): Debian's own signed
# index files for one suite, component main and one architecture, exactly as the archive serves them, and
# the pool/ .deb files of the packages in a list together with what they depend on, which the image
# does not already have. Called by scripts/build-debian-image.sh.
#
# Usage: scripts/image/debian-mirror.sh ARCHIVE SUITE ARCH STATUS LIST OUT CACHE
#   ARCHIVE  the archive's URL (http://deb.debian.org/debian)
#   STATUS   the image's dpkg status file (what is installed: left out of the mirror)
#   LIST     the packages, one a line (# starts a comment)
#   OUT      the mirror's directory, laid out as the archive (dists/, pool/); made empty first
#   CACHE    .deb files kept between builds (each checked again before use)
#
# The index files are checked with gpgv against the host's debian-archive-keyring, then once more by apt
# itself: the dependency closure comes from the host's apt, run with an apt configuration of its own
# (the system's is untouched) that reads the new mirror through a file: source, signed-by the same
# keyring, with the image's status file and its apt settings (no Recommends, no translations:
# scripts/image/debian-rootfs/etc/apt/apt.conf.d/tabvm). Every .deb is checked against its SHA256 in
# the Packages file. Writes OUT.sha256 (the mirror's files and their sha256) beside OUT.
set -euo pipefail

[ $# -eq 7 ] || { sed -n '7,13p' "$0" >&2; exit 2; }
archive=$1 suite=$2 arch=$3 status=$4 list=$5 out=$6 cache=$7
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out" "$cache"
dists="$out/dists/$suite"
mkdir -p "$dists"

# Downloads URL to FILE and checks its SHA256 and size (a truncated or replaced download is an error).
fetch_checked() {
	local url=$1 file=$2 sha256=$3 size=$4
	curl -fsS --retry 3 -o "$file.part" "$url" || die "download failed: $url"
	[ "$(stat -c %s "$file.part")" = "$size" ] || die "$url: $(stat -c %s "$file.part") bytes, the index says $size"
	[ "$(sha256sum "$file.part" | cut -d ' ' -f 1)" = "$sha256" ] || die "$url: SHA256 differs from the index"
	mv "$file.part" "$file"
}

log "mirror: $suite $arch index files from $archive"
curl -fsS --retry 3 -o "$dists/InRelease" "$archive/dists/$suite/InRelease"
gpgv --keyring "$KEYRING" --output "$tmp/Release" "$dists/InRelease" 2>"$tmp/gpgv.log" ||
	{ cat "$tmp/gpgv.log"; die "InRelease: no good signature by a key of $KEYRING"; }
# Release and its detached signature, for an apt that does not take InRelease: served only when they
# are the same release as InRelease (a cache between here and the archive may hold an older pair).
curl -fsS --retry 3 -o "$tmp/Release.served" "$archive/dists/$suite/Release"
curl -fsS --retry 3 -o "$tmp/Release.gpg" "$archive/dists/$suite/Release.gpg"
if cmp -s "$tmp/Release" "$tmp/Release.served" && gpgv --keyring "$KEYRING" "$tmp/Release.gpg" "$tmp/Release.served" 2>/dev/null; then
	cp "$tmp/Release.served" "$dists/Release"
	cp "$tmp/Release.gpg" "$dists/Release.gpg"
else
	echo "Release and Release.gpg as served do not match InRelease; the mirror has InRelease only (apt's first choice)"
fi

# main/binary-ARCH/Packages.xz, fetched by its hash (so it is the file that this InRelease signs even if
# the archive moves on meanwhile) and written at its name and, when Release asks apt to fetch by hash,
# at by-hash/SHA256/<hash> as well.
packages_path="main/binary-$arch/Packages.xz"
packages_sha256='' packages_size=''
read -r packages_sha256 packages_size < <(awk -v path="$packages_path" '
	/^[^ ]/ { sha256 = ($1 == "SHA256:") }
	sha256 && $3 == path { print $1, $2; exit }' "$tmp/Release") || true
[ -n "$packages_sha256" ] || die "InRelease lists no SHA256 for $packages_path"
mkdir -p "$dists/main/binary-$arch"
fetch_checked "$archive/dists/$suite/main/binary-$arch/by-hash/SHA256/$packages_sha256" \
	"$dists/$packages_path" "$packages_sha256" "$packages_size"
if grep -q '^Acquire-By-Hash: yes$' "$tmp/Release"; then
	mkdir -p "$dists/main/binary-$arch/by-hash/SHA256"
	cp "$dists/$packages_path" "$dists/main/binary-$arch/by-hash/SHA256/$packages_sha256"
fi

log "mirror: dependency closure of $list"
mkdir -p "$tmp/apt/parts" "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial"
cat >"$tmp/apt/apt.conf" <<EOF
Dir::Etc::Parts "$tmp/apt/parts";
Dir::Etc::TrustedParts "$tmp/apt/parts";
Dir::Etc::Trusted "$tmp/apt/trusted.gpg";
Dir::Etc::Preferences "$tmp/apt/preferences";
Dir::Etc::PreferencesParts "$tmp/apt/parts";
Dir::Etc::SourceList "$tmp/apt/sources.list";
Dir::Etc::SourceParts "$tmp/apt/parts";
Dir::State "$tmp/apt";
Dir::State::Lists "$tmp/apt/lists";
Dir::State::status "$status";
Dir::Cache "$tmp/apt/cache";
Dir::Log "$tmp/apt";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages "none";
APT::Install-Recommends "false";
Debug::NoLocking "true";
EOF
echo "deb [signed-by=$KEYRING] file:$(realpath "$out") $suite main" >"$tmp/apt/sources.list"
export APT_CONFIG="$tmp/apt/apt.conf"
apt-get update -q --error-on=any >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log"; die "apt rejects the mirror's index files"; }
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")
# Each line: 'URI' file-name size hash; the URI is the mirror's path, percent-encoded.
apt-get install -qq -y --print-uris "${packages[@]}" >"$tmp/uris" || die "apt cannot install the mirror's packages: ${packages[*]}"

# Filename, Size and SHA256 of every package in the Packages file.
xz -dc "$dists/$packages_path" | awk '
	/^Filename: / { file = $2 } /^Size: / { size = $2 } /^SHA256: / { sha256 = $2 }
	/^$/ { if (file) print file, size, sha256; file = size = sha256 = "" }' >"$tmp/index"

log "mirror: $(wc -l <"$tmp/uris") .deb files"
prefix="file:$(realpath "$out")/"
while read -r uri _; do
	uri=${uri//\'/}
	path=${uri#"$prefix"}
	path=$(printf '%b' "${path//%/\\x}")
	size='' sha256=''
	read -r size sha256 < <(awk -v path="$path" '$1 == path { print $2, $3; exit }' "$tmp/index") || true
	[ -n "$sha256" ] || die "$path is not in the Packages file"
	cached="$cache/$(basename "$path")"
	if [ ! -f "$cached" ] || [ "$(sha256sum "$cached" | cut -d ' ' -f 1)" != "$sha256" ]; then
		fetch_checked "$archive/$path" "$cached" "$sha256" "$size"
	fi
	mkdir -p "$out/$(dirname "$path")"
	cp "$cached" "$out/$path"
done <"$tmp/uris"

(cd "$out" && find . -type f | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum) >"$out.sha256"
echo "mirror: $(grep -c '\.deb$' "$out.sha256") packages, $(du -sm "$out" | cut -f1) MiB, in $(($(date +%s) - start)) s"
