# Shell helpers shared by the image builders (scripts/build-default-image.sh, scripts/build-debian-image.sh).
# Sourced, not run: the caller sets `set -euo pipefail` and HOST_PACKAGES.

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages in HOST_PACKAGES that are missing (as root; otherwise says which).
install_host_tools() {
	log "host tools (Debian packages)"
	local missing=() package
	for package in "${HOST_PACKAGES[@]}"; do
		dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		[ "$(id -u)" -eq 0 ] || die "missing Debian packages (run as root to install them): ${missing[*]}"
		apt-get install -y --no-install-recommends "${missing[@]}"
	else
		echo "all installed: ${HOST_PACKAGES[*]}"
	fi
}

# The first URI of the system's deb822 sources (the Debian main archive), not its suites.
debian_mirror() {
	local mirror
	mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	[ -n "$mirror" ] || die "no URIs: line in /etc/apt/sources.list.d/debian.sources"
	echo "$mirror"
}
