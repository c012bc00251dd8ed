#!/bin/sh
# Install everything a fresh Debian 12 machine lacks to build and test gpumux.
# Idempotent: packages already present are skipped, and apt-get update runs
# only when something is missing.
set -eu

PKGS="build-essential pkg-config git make gcc clang-format
linux-headers-amd64 kmod dkms sparse libelf-dev
flex bison bc libssl-dev perl
qemu-system-x86 busybox-static cpio gzip xz-utils zstd
liburing-dev libsystemd-dev libdrm-dev check libmicrohttpd-dev libjansson-dev
dbus python3-dbus curl debootstrap
mandoc groff-base libxml2-utils systemd"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
