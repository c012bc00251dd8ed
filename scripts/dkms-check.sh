#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prove that dkms.conf works: `dkms add`, `dkms build`, `dkms install` and
# `dkms remove` of the gpumux module against the installed Debian kernel
# headers, without installing anything into the host.
#
# How the host is kept out of it: the dkms run happens inside a private mount
# namespace (unshare -m --propagation private) in which the three trees dkms
# writes to are bind mounts of folders under build/dkms/:
#
#   /usr/src        build/dkms/usr-src: the package source gpumux-<version>
#                   (a copy of Kbuild, dkms.conf and kmod/), plus read-only
#                   bind mounts of the host's linux-headers-* folders and a
#                   copy of the linux-kbuild-* link, so the headers resolve
#   /lib/modules    build/dkms/lib-modules: <abi>/build and <abi>/source,
#                   the same links as the host's; `dkms install` and depmod
#                   write here
#   /var/lib/dkms   build/dkms/var-lib-dkms: dkms's own tree, including the
#                   signing key it generates on first use
#
# The mounts vanish with the namespace when the script ends, whatever way it
# ends.  Needs root (unshare -m).
#
# Usage: scripts/dkms-check.sh [--src DIR] [--kver ABI] [--out DIR]
#   --src DIR   module source root holding Kbuild, dkms.conf and kmod/
#               (default: this repository)
#   --kver ABI  kernel ABI, e.g. 6.1.0-56-amd64 (default: the newest
#               /usr/src/linux-headers-*-amd64)
#   --out DIR   work folder (default: build/dkms of this repository); it is
#               emptied first.  The built module is left at DIR/gpumux.ko.
set -eu
set -o pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
self=$repo/scripts/$(basename "$0")

log() { echo "dkms-check: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# Read a NAME="value" assignment from dkms.conf.  dkms sources the file as
# bash, but PACKAGE_NAME and PACKAGE_VERSION are plain literals there, so
# this needs no evaluation.
conf_get() {
	sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" "$2" | tail -n 1
}

# ---------------------------------------------------------------------------
# Second stage: inside the private mount namespace.  Arguments: the work
# folder, the kernel ABI, the package name and version.
if [ "${1:-}" = "--inside-namespace" ]; then
	work=$2
	abi=$3
	name=$4
	version=$5

	# Belt and braces: if propagation were shared, our mounts would show up
	# on the host.  unshare --propagation private should have seen to it.
	mount --make-rprivate /

	# The header folders go read-only into the private /usr/src, then
	# that tree replaces /usr/src (rbind carries those submounts along).
	for d in "$work"/usr-src/linux-*; do
		if [ -L "$d" ] || [ ! -d "$d" ]; then
			continue
		fi
		mount --bind "/usr/src/$(basename "$d")" "$d"
		mount -o remount,bind,ro "$d"
	done
	mount --rbind "$work/usr-src" /usr/src
	mount --bind "$work/lib-modules" /lib/modules
	mount --bind "$work/var-lib-dkms" /var/lib/dkms

	kdir=/lib/modules/$abi/build
	[ -f "$kdir/Makefile" ] || die "$kdir does not resolve to kernel headers"
	[ -f "/usr/src/$name-$version/dkms.conf" ] || die "no private source tree"

	log "dkms add -m $name -v $version"
	dkms add -m "$name" -v "$version"

	log "dkms build -m $name -v $version -k $abi"
	if ! dkms build -m "$name" -v "$version" -k "$abi"; then
		cat "/var/lib/dkms/$name/$version/build/make.log" >&2 || true
		die "dkms build failed"
	fi

	log "dkms install -m $name -v $version -k $abi"
	dkms install -m "$name" -v "$version" -k "$abi"

	ko=/lib/modules/$abi/updates/dkms/$name.ko
	[ -f "$ko" ] || die "dkms install left no $ko"
	vermagic=$(modinfo -F vermagic "$ko")
	case $vermagic in
	"$abi "*) ;;
	*) die "$ko: vermagic '$vermagic' is not for $abi" ;;
	esac
	# dkms signs the module with the key it generated in our private
	# /var/lib/dkms, because the Debian kernel has CONFIG_MODULE_SIG.
	signer=$(modinfo -F signer "$ko" || true)
	grep -q "/$name\.ko:" "/lib/modules/$abi/modules.dep" ||
		die "depmod did not list $name.ko in modules.dep"
	cp "$ko" "$work/$name.ko"

	dkms status -m "$name" -v "$version"

	log "dkms remove -m $name -v $version --all"
	dkms remove -m "$name" -v "$version" --all
	[ ! -e "$ko" ] || die "dkms remove left $ko behind"

	log "ok: $name $version built for $abi (vermagic: $vermagic; signer: ${signer:-none})"
	log "module: $work/$name.ko"
	exit 0
fi

# ---------------------------------------------------------------------------
# First stage: on the host.  Prepare the private trees, then re-run this
# script inside a new mount namespace.
src=$repo
abi=""
work=$repo/build/dkms
while [ $# -gt 0 ]; do
	case $1 in
	--src | --kver | --out)
		[ $# -ge 2 ] || die "$1 needs an argument"
		case $1 in
		--src) src=$(cd "$2" && pwd) ;;
		--kver) abi=$2 ;;
		--out) work=$2 ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '3,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $1" ;;
	esac
	shift
done

[ "$(id -u)" -eq 0 ] || die "needs root (a private mount namespace)"
for tool in dkms unshare mount modinfo depmod flock; do
	command -v "$tool" >/dev/null || die "$tool not found: run scripts/install-deps.sh"
done

conf=$src/dkms.conf
[ -f "$conf" ] || die "no $conf"
[ -f "$src/Kbuild" ] || die "no $src/Kbuild"
[ -d "$src/kmod" ] || die "no $src/kmod"
name=$(conf_get PACKAGE_NAME "$conf")
version=$(conf_get PACKAGE_VERSION "$conf")
if [ -z "$name" ] || [ -z "$version" ]; then
	die "$conf: PACKAGE_NAME or PACKAGE_VERSION missing"
fi

# The newest Debian headers, unless told otherwise.  Never the running
# kernel: it is not a Debian kernel and has no headers.
if [ -z "$abi" ]; then
	hdr=$(find /usr/src -maxdepth 1 -name 'linux-headers-*-amd64' | sort -V | tail -n 1)
	[ -n "$hdr" ] || die "no /usr/src/linux-headers-*-amd64: run scripts/install-deps.sh"
	abi=${hdr#/usr/src/linux-headers-}
fi
[ -f "/usr/src/linux-headers-$abi/Makefile" ] || die "no headers for $abi in /usr/src"

# One run at a time per work folder.
mkdir -p "$(dirname "$work")"
exec 9>"$work.lock"
flock 9

# A fresh work folder every time, so a previous run cannot make this one
# pass.  Any mount of a previous run died with its namespace.
case $work in
/* | ./* | ../*) ;;
*) work=./$work ;;
esac
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ "$work" != / ] || die "refusing to use / as the work folder"
rm -rf "$work"
mkdir -p "$work/usr-src" "$work/lib-modules/$abi" "$work/var-lib-dkms"

# The package source: only what dkms.conf's MAKE needs, without any build
# products that an in-tree build may have left in kmod/.
pkgsrc=$work/usr-src/$name-$version
mkdir -p "$pkgsrc"
cp "$src/Kbuild" "$src/dkms.conf" "$pkgsrc/"
tar -C "$src" -cf - \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
	--exclude='*.cmd' --exclude='*.a' --exclude='*.d' --exclude='*.order' \
	--exclude='Module.symvers' --exclude='.tmp_versions' \
	kmod | tar -C "$pkgsrc" -xf -

# Mount points for the host's header folders (mounted read-only inside), and
# copies of its links (linux-kbuild-6.1 -> ../lib/linux-kbuild-6.1).
for d in /usr/src/linux-*; do
	if [ -L "$d" ]; then
		cp -P "$d" "$work/usr-src/"
	elif [ -d "$d" ]; then
		mkdir "$work/usr-src/$(basename "$d")"
	fi
done

# /lib/modules/<abi>: the same build/source links as the host's.
for l in build source; do
	if [ -L "/lib/modules/$abi/$l" ]; then
		cp -P "/lib/modules/$abi/$l" "$work/lib-modules/$abi/"
	fi
done
[ -L "$work/lib-modules/$abi/build" ] ||
	ln -s "/usr/src/linux-headers-$abi" "$work/lib-modules/$abi/build"

# dkms runs make; flags of a calling make (`make dkms-check W=1 -j8`) must
# not leak into the module build it starts.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

log "$name $version for $abi, work folder $work"
exec unshare -m --propagation private \
	"$self" --inside-namespace "$work" "$abi" "$name" "$version"
