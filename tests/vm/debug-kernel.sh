#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, once, the gpumux debug kernel: Debian's linux-source-6.1 configured
# as `tinyconfig` + tests/vm/debug.config (KASAN, lockdep, kmemleak, debug
# objects, ...), small enough to build in a quarter of an hour on 2 cores and
# to boot under `qemu-system-x86_64 -accel tcg` with a busybox initramfs.
#
# Everything lives under $CACHE/debug-kernel (CACHE defaults to
# ~/.cache/gpumux, as in the top-level Makefile):
#
#   src/linux-source-<ver>/  the unpacked source, never written to (O= build)
#   build/                   the object tree; a valid KDIR for
#                            `make -C build M=<dir> modules`
#   bzImage                  the compressed kernel (any boot loader, qemu)
#   vmlinux                  the ELF image; qemu boots it directly (PVH)
#   System.map, kernelrelease, build.log
#   stamp                    what the cached build was made from
#
# The cache is keyed on the source package version, the fragment's content
# and RECIPE below; when all three match, the script only prints the paths.
# Nothing outside $CACHE is touched: no /boot, no /lib/modules, and no module
# is ever loaded into the host kernel.
#
# Usage: tests/vm/debug-kernel.sh [--force] [--jobs N]
#   --force   rebuild even if the cache matches (the object tree is reused,
#             so this is an incremental make)
#   --jobs N  make -jN (default: the number of CPUs)
#
# Output (stdout, last lines): KEY=PATH pairs, for example
#   DEBUG_KERNEL_BZIMAGE=/root/.cache/gpumux/debug-kernel/bzImage
set -eu
set -o pipefail

# Bump when the way the tree is configured or built changes in a way the
# fragment does not show (base config, make targets, environment).
RECIPE=1

here=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$here/debug.config
CACHE=${CACHE:-$HOME/.cache/gpumux}
DEBS=$CACHE/debs
OUT=$CACHE/debug-kernel
BUILD=$OUT/build
SRCPKG=linux-source-6.1

force=0
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--jobs)
		[ $# -ge 2 ] || { echo "debug-kernel: --jobs needs a number" >&2; exit 2; }
		jobs=$2
		shift
		;;
	-h | --help)
		sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "debug-kernel: unknown argument: $1" >&2
		exit 2
		;;
	esac
	shift
done

log() { echo "debug-kernel: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

print_paths() {
	echo "DEBUG_KERNEL_RELEASE=$(cat "$OUT/kernelrelease")"
	echo "DEBUG_KERNEL_BZIMAGE=$OUT/bzImage"
	echo "DEBUG_KERNEL_VMLINUX=$OUT/vmlinux"
	echo "DEBUG_KERNEL_KDIR=$BUILD"
}

for tool in dpkg-deb tar xz flex bison bc gcc make flock sha256sum; do
	command -v "$tool" >/dev/null ||
		die "$tool not found: run scripts/install-deps.sh"
done
[ -r "$FRAGMENT" ] || die "no config fragment at $FRAGMENT"

mkdir -p "$OUT" "$DEBS"
# One build at a time: a second caller (a parallel make, another shell) waits
# here and then finds the cache up to date.
exec 9>"$OUT/.lock"
flock 9

# --- The source package: the newest cached .deb, else download it.
find_deb() {
	find "$DEBS" -maxdepth 1 -name "${SRCPKG}_*_all.deb" | sort -V | tail -n 1
}
deb=$(find_deb)
if [ -z "$deb" ]; then
	log "downloading $SRCPKG into $DEBS"
	# apt-get download writes into the current directory.  As root it
	# warns that the download is "unsandboxed"; that is harmless.
	if ! (cd "$DEBS" && apt-get download "$SRCPKG"); then
		log "apt-get download failed; refreshing the package lists once"
		apt-get update -q
		(cd "$DEBS" && apt-get download "$SRCPKG")
	fi
	deb=$(find_deb)
	[ -n "$deb" ] || die "apt-get download $SRCPKG left no .deb in $DEBS"
fi
version=$(dpkg-deb -f "$deb" Version)

key=$({
	echo "recipe $RECIPE"
	echo "package $SRCPKG $version"
	cat "$FRAGMENT"
} | sha256sum | cut -d' ' -f1)

if [ "$force" = 0 ] && [ -f "$OUT/stamp" ] &&
	[ "$(cat "$OUT/stamp")" = "$key" ] &&
	[ -f "$OUT/bzImage" ] && [ -f "$OUT/vmlinux" ] &&
	[ -f "$BUILD/Module.symvers" ] && [ -f "$OUT/kernelrelease" ]; then
	log "up to date ($SRCPKG $version, fragment $(basename "$FRAGMENT"))"
	print_paths
	exit 0
fi

start=$(date +%s)
# From here on the cache is invalid until the very end.
rm -f "$OUT/stamp"

# --- Unpack the source (the .deb holds usr/src/linux-source-6.1.tar.xz).
SRC=$OUT/src/$SRCPKG-$version
if [ ! -f "$SRC/.gpumux-unpacked" ]; then
	log "unpacking $(basename "$deb") into $OUT/src"
	rm -rf "$OUT/src"
	mkdir -p "$OUT/src/.tmp"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO "./usr/src/$SRCPKG.tar.xz" |
		xz -d -T0 |
		tar -x -C "$OUT/src/.tmp"
	[ -f "$OUT/src/.tmp/$SRCPKG/Makefile" ] ||
		die "$deb: no $SRCPKG/Makefile in the source tarball"
	mv "$OUT/src/.tmp/$SRCPKG" "$SRC"
	rmdir "$OUT/src/.tmp"
	touch "$SRC/.gpumux-unpacked"
fi

# A build tree made from another source version is useless: start afresh.
if [ -d "$BUILD" ] && [ "$(cat "$BUILD/.gpumux-source" 2>/dev/null)" != "$version" ]; then
	log "discarding the object tree of another source version"
	rm -rf "$BUILD"
fi
mkdir -p "$BUILD"
echo "$version" >"$BUILD/.gpumux-source"

# Always ARCH=x86_64: plain tinyconfig on x86 would choose a 32-bit kernel.
# Fixed build user/host keep `uname -v` free of this machine's name.
kmake() {
	make -C "$SRC" O="$BUILD" ARCH=x86_64 \
		KBUILD_BUILD_USER=gpumux KBUILD_BUILD_HOST=debug-kernel "$@"
}

# --- Configure: tinyconfig, merge the fragment, let olddefconfig resolve it.
log "configuring: tinyconfig + $(basename "$FRAGMENT")"
kmake -s tinyconfig
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" "$FRAGMENT" >/dev/null
kmake -s olddefconfig

# Every line of the fragment must have survived: Kconfig silently drops a
# symbol whose dependencies are not met, and the kernel would then boot
# without, say, KASAN and every test would pass for the wrong reason.
missing=""
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		sym=${line%%=*}
		got=$(grep -E "^$sym=" "$BUILD/.config" || true)
		[ "$got" = "$line" ] || missing="$missing
  want $line, got ${got:-not set}"
		;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% *}
		got=$(grep -E "^$sym=" "$BUILD/.config" || true)
		[ -z "$got" ] || missing="$missing
  want $sym not set, got $got"
		;;
	esac
done <"$FRAGMENT"
[ -z "$missing" ] || die "options of $(basename "$FRAGMENT") not in the final .config:$missing"
log "all $(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$FRAGMENT") options of the fragment are set"

# --- Build.  `all` makes vmlinux, bzImage and Module.symvers; then
# modules_prepare, so the tree is complete as a KDIR for external modules.
log "building with -j$jobs (log: $OUT/build.log)"
if ! kmake -j"$jobs" all >"$OUT/build.log" 2>&1; then
	tail -n 40 "$OUT/build.log" >&2
	die "kernel build failed; see $OUT/build.log"
fi
kmake -s modules_prepare >>"$OUT/build.log" 2>&1 ||
	die "make modules_prepare failed; see $OUT/build.log"
[ -f "$BUILD/Module.symvers" ] || die "no Module.symvers after the build"

# Copy the images out of the object tree, so a later rebuild in progress never
# leaves a half-written kernel where the VM scripts look.
for f in arch/x86/boot/bzImage vmlinux System.map; do
	cp "$BUILD/$f" "$OUT/.$(basename "$f").tmp"
	mv "$OUT/.$(basename "$f").tmp" "$OUT/$(basename "$f")"
done
kmake -s kernelrelease >"$OUT/kernelrelease"

echo "$key" >"$OUT/stamp"
log "built $(cat "$OUT/kernelrelease") from $SRCPKG $version in $(($(date +%s) - start)) s"
print_paths
