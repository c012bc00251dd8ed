#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once, cached) the Debian root filesystem the systemd boot test
# (tests/vm/run.sh --suite systemd) boots with systemd as PID 1, and print
# the path of its ext4 image.
#
#   tests/vm/mkrootfs.sh            build when missing, print the image path
#   tests/vm/mkrootfs.sh --rebuild  build it again even when cached
#
# The image is $CACHE/rootfs/<key>/root.img (raw ext4), where <key> hashes
# the package list, the suite, the mirror and this script: change any of
# them and the next run builds a new image.  The two newest images are
# kept.  Packages are downloaded once into $CACHE/rootfs/debs, so a rebuild
# needs no network.
#
# debootstrap --variant=minbase with PACKAGES below, then: a fixed
# machine-id (no first-boot logic, so no systemd-firstboot prompt), an
# fstab for /dev/vda, the console getty masked.  No kernel and no modules:
# the VM boots Debian's kernel from the host, and run.sh adds gpumux.ko
# and a modules.dep for it at boot.  The image is never booted writable:
# run.sh boots a qcow2 overlay of it.
#
# Environment: CACHE (default ~/.cache/gpumux), GMVM_MIRROR (default: the
# first deb.debian.org-style URI of the host's apt sources, else
# http://deb.debian.org/debian).  Needs root and debootstrap.

set -euo pipefail

SUITE=bookworm
# What the test needs in the guest: systemd as PID 1 and udev; the system
# bus; kmod for modules-load.d; the daemon's libraries; python3-dbus for an
# independent client; polkitd so polkit is on the bus (with libpam-systemd,
# which provides the logind polkitd depends on: debootstrap resolves no
# virtual packages); procps for pgrep.
PACKAGES="systemd-sysv udev dbus kmod procps python3-dbus libsystemd0
liburing2 libdrm2 libdrm-amdgpu1 libmicrohttpd12 polkitd libpam-systemd"

CACHE=${CACHE:-$HOME/.cache/gpumux}
DIR=$CACHE/rootfs
REBUILD=0
[[ ${1:-} == --rebuild ]] && REBUILD=1

say() { echo "mkrootfs: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# The Debian mirror the host's apt uses (deb822 "URIs:" or one-line "deb").
mirror() {
	local uri
	if [[ -n ${GMVM_MIRROR:-} ]]; then
		echo "$GMVM_MIRROR"
		return
	fi
	uri=$({
		sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' \
			/etc/apt/sources.list 2>/dev/null
	} | tr ' ' '\n' | grep -E '^https?://[^ ]*/debian/?$' | head -n 1)
	echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR=$(mirror)
KEY=$({
	echo "$SUITE $MIRROR"
	# shellcheck disable=SC2086 # one word a line
	printf '%s\n' $PACKAGES | sort
	cat "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
IMAGE=$DIR/$KEY/root.img

if [[ -f $IMAGE && $REBUILD == 0 ]]; then
	touch "$IMAGE"
	echo "$IMAGE"
	exit 0
fi

[[ $(id -u) == 0 ]] || die "needs root (debootstrap)"
command -v debootstrap >/dev/null || die "no debootstrap (scripts/install-deps.sh)"
command -v mkfs.ext4 >/dev/null || die "no mkfs.ext4 (e2fsprogs)"

t0=$SECONDS
tmp=$DIR/$KEY.tmp
root=$tmp/root
rm -rf "$tmp"
mkdir -p "$root" "$DIR/debs"
# If anything fails, do not leave a half-built root (nor its /proc mount).
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

say "debootstrap $SUITE from $MIRROR into $root (packages cached in $DIR/debs)"
# shellcheck disable=SC2086 # the words, comma-separated
debootstrap --variant=minbase --cache-dir="$DIR/debs" \
	--include="$(printf '%s\n' $PACKAGES | paste -sd,)" "$SUITE" "$root" "$MIRROR" \
	>"$tmp/debootstrap.log" 2>&1 || {
	tail -n 30 "$tmp/debootstrap.log" >&2
	cp "$root/debootstrap/debootstrap.log" "$DIR/debootstrap-failed.log" 2>/dev/null || true
	die "debootstrap failed (above; more in $DIR/debootstrap-failed.log)"
}
umount "$root/proc" 2>/dev/null || true

say "configuring"
echo gmvm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tgmvm\n' >"$root/etc/hosts"
# A machine-id from the start: no ConditionFirstBoot units, no prompts.
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/etc/machine-id"
echo >>"$root/etc/machine-id"
mkdir -p "$root/var/lib/dbus"
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
# No login prompt on the console: the test unit is all that runs there.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
# Nothing periodic may start during the test.
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer dpkg-db-backup.timer; do
	ln -sf /dev/null "$root/etc/systemd/system/$t"
done
# Root may log in on the console without a password (debugging by hand).
chroot "$root" passwd -d root >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

say "making the ext4 image"
size=$(du -sm "$root" | cut -f1)
size=$((size + size / 2 + 256))
rm -f "$tmp/root.img"
mkfs.ext4 -q -F -L gmroot -E root_owner=0:0 -d "$root" "$tmp/root.img" "${size}M" >&2
mkdir -p "$DIR/$KEY"
mv "$tmp/root.img" "$IMAGE"
rm -rf "$tmp"
trap - EXIT
say "built $IMAGE (${size} MiB) in $((SECONDS - t0)) s"

# Keep the two newest images.
find "$DIR" -mindepth 2 -maxdepth 2 -name root.img -printf '%T@ %h\n' |
	sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
echo "$IMAGE"
