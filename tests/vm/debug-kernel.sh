#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, once, the gpumux debug kernel: Debian's linux-source-6.1 configured
# as `tinyconfig` + tests/vm/debug.config (KASAN, lockdep, kmemleak, debug
# objects, ...), small enough to build in under ten minutes on 2 cores and
# to boot under `qemu-system-x86_64 -accel tcg` with a busybox initramfs.
#
# Everything lives under $CACHE/debug-kernel (CACHE defaults to
# ~/.cache/gpumux, as in the top-level Makefile):
#
#   src/linux-source-<ver>/  the unpacked source, never written to (O= build)
#   build/                   the object tree; a valid KDIR for
#                            `make -C build M=<dir> modules`
#   bzImage                  the compressed kernel (any boot loader, qemu)
#   vmlinux                  the ELF image, for symbols (not bootable, below)
#   System.map, kernelrelease, config.log, build.log, selftest.log
#   stamp                    what the cached build was made from
#
# The cache is keyed on the source package version, the fragment's content
# and RECIPE below; when all three match, the script only prints the paths.
# Nothing outside $CACHE is touched: no /boot, no /lib/modules, and no module
# is ever loaded into the host kernel.
#
# Usage: tests/vm/debug-kernel.sh [--force] [--jobs N] [--selftest]
#   --force     rebuild even if the cache matches (the object tree is reused,
#               so this is an incremental make)
#   --jobs N    make -jN (default: the number of CPUs)
#   --selftest  then prove the kernel works: build a hello-world module
#               against build/, boot the bzImage under qemu (TCG) with a
#               busybox initramfs, insmod/rmmod the module, scan kmemleak,
#               power off; fails on a missing step or any kernel splat
#
# vmlinux is for symbols (addr2line, gdb, scripts/decode_stacktrace.sh), not
# for booting: PVH direct boot is off, see debug.config.
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
selftest=0
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--selftest) selftest=1 ;;
	--jobs)
		[ $# -ge 2 ] || { echo "debug-kernel: --jobs needs a number" >&2; exit 2; }
		jobs=$2
		shift
		;;
	-h | --help)
		sed -n '3,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
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

# Flags of a calling make (`make debug-kernel C=2 -j8`) must not leak into
# the kernel build: C=2 alone would run sparse over the whole kernel.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

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

SRC=$OUT/src/$SRCPKG-$version

# Always ARCH=x86_64: plain tinyconfig on x86 would choose a 32-bit kernel.
# Fixed build user/host keep `uname -v` free of this machine's name.
kmake() {
	make -C "$SRC" O="$BUILD" ARCH=x86_64 \
		KBUILD_BUILD_USER=gpumux KBUILD_BUILD_HOST=debug-kernel "$@"
}

build_kernel() {
	local start line sym got missing f
	start=$(date +%s)
	# From here on the cache is invalid until the very end.
	rm -f "$OUT/stamp"

	# --- Unpack the source (the .deb holds usr/src/linux-source-6.1.tar.xz).
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

	# --- Configure: tinyconfig, merge the fragment, let olddefconfig resolve it.
	# Kconfig's chatter (every tinyconfig choice the fragment overrides) goes to
	# config.log; it is shown only if a step fails.
	log "configuring: tinyconfig + $(basename "$FRAGMENT")"
	if ! {
		kmake tinyconfig &&
			"$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" "$BUILD/.config" "$FRAGMENT" &&
			kmake olddefconfig
	} >"$OUT/config.log" 2>&1; then
		cat "$OUT/config.log" >&2
		die "configuration failed"
	fi

	# Every line of the fragment must have survived: Kconfig silently drops a
	# symbol whose dependencies are not met, and the kernel would then boot
	# without, say, KASAN and every test would pass for the wrong reason.
	missing=""
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			sym=${line%%=*}
			got=$(grep -E "^$sym=" "$BUILD/.config" || true)
			[ "$got" = "$line" ] ||
				missing="$missing"$'\n'"  want $line, got ${got:-not set}"
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			got=$(grep -E "^$sym=" "$BUILD/.config" || true)
			[ -z "$got" ] ||
				missing="$missing"$'\n'"  want $sym not set, got $got"
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
}

# --- Self-test: does the cached kernel boot, and does an external module
# built against build/ load into it?  Everything happens in a temporary
# folder; qemu runs with TCG (KVM is unusable on these machines).
selftest() {
	local tmp rc t0 t1 bb tool
	for tool in qemu-system-x86_64 cpio gzip timeout readelf; do
		command -v "$tool" >/dev/null ||
			die "$tool not found: run scripts/install-deps.sh"
	done
	bb=$(command -v busybox) || die "busybox not found (package busybox-static)"
	# The initramfs holds nothing but busybox: it must be static.
	! readelf -l "$bb" | grep -q INTERP ||
		die "$bb is dynamically linked; install busybox-static"

	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: $tmp is local
	trap "rm -rf '$tmp'" EXIT

	# A module that allocates on load and frees on unload: kmemleak and
	# KASAN see its memory, and version magic must match the kernel.
	mkdir -p "$tmp/mod" "$tmp/root/bin" "$tmp/root/dev" "$tmp/root/proc" \
		"$tmp/root/sys" "$tmp/root/tmp"
	cat >"$tmp/mod/hello.c" <<'EOF'
// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/slab.h>

static void *buf;

static int __init hello_init(void)
{
	buf = kmalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	pr_info("selftest hello: loaded\n");
	return 0;
}

static void __exit hello_exit(void)
{
	kfree(buf);
	pr_info("selftest hello: unloaded\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("debug-kernel.sh self-test module");
EOF
	echo 'obj-m := hello.o' >"$tmp/mod/Kbuild"
	log "selftest: building a module against $BUILD"
	make -C "$BUILD" M="$tmp/mod" W=1 modules >"$tmp/mod.log" 2>&1 || {
		cat "$tmp/mod.log" >&2
		die "selftest: the module does not build against $BUILD"
	}

	cp "$bb" "$tmp/root/bin/busybox"
	cp "$tmp/mod/hello.ko" "$tmp/root/hello.ko"
	# /init prints SELFTEST-PASS only if every step worked; the host side
	# then also requires a clean kernel log.
	cat >"$tmp/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
echo "SELFTEST-BOOTED $(uname -r) cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"
fail() { echo "SELFTEST-FAIL: $*"; poweroff -f; }
insmod /hello.ko || fail "insmod"
grep -q '^hello ' /proc/modules || fail "hello not in /proc/modules"
rmmod hello || fail "rmmod"
! dmesg | grep -E 'module verification failed|version magic|disagrees about version' ||
	fail "module loading complained"
[ -d /sys/kernel/tracing/events ] || fail "no tracefs events"
echo scan >/sys/kernel/debug/kmemleak || fail "kmemleak scan"
leaks=$(grep -c unreferenced /sys/kernel/debug/kmemleak)
[ "$leaks" = 0 ] || { cat /sys/kernel/debug/kmemleak; fail "$leaks kmemleak reports"; }
echo "SELFTEST-PASS uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
	chmod +x "$tmp/root/init"
	(cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initramfs.cpio.gz"

	log "selftest: booting $OUT/bzImage (qemu, TCG, 2 vCPUs, 1 GiB)"
	t0=$(date +%s)
	rc=0
	timeout 600 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic \
		-no-reboot -nic none -kernel "$OUT/bzImage" \
		-initrd "$tmp/initramfs.cpio.gz" \
		-append 'console=ttyS0 panic=-1' \
		</dev/null 2>&1 | tr -d '\r' >"$OUT/selftest.log" || rc=$?
	t1=$(date +%s)
	grep -E '^SELFTEST-' "$OUT/selftest.log" >&2 || true
	[ "$rc" = 0 ] || die "selftest: qemu did not power off (status $rc); see $OUT/selftest.log"
	grep -q '^SELFTEST-PASS' "$OUT/selftest.log" ||
		die "selftest: the guest did not pass; see $OUT/selftest.log"
	# Any report from the debugging options fails the test.
	if grep -E 'BUG:|WARNING:|KASAN|possible recursive locking|possible circular locking|inconsistent lock state|suspicious RCU usage|ODEBUG:|list_(add|del) corruption|Call Trace:' \
		"$OUT/selftest.log" >&2; then
		die "selftest: kernel reports in $OUT/selftest.log"
	fi
	log "selftest: passed; qemu ran $((t1 - t0)) s (log: $OUT/selftest.log)"
}

if [ "$force" = 0 ] && [ -f "$OUT/stamp" ] &&
	[ "$(cat "$OUT/stamp")" = "$key" ] &&
	[ -f "$OUT/bzImage" ] && [ -f "$OUT/vmlinux" ] &&
	[ -f "$BUILD/Module.symvers" ] && [ -f "$OUT/kernelrelease" ]; then
	log "up to date ($SRCPKG $version, fragment $(basename "$FRAGMENT"))"
else
	build_kernel
fi
[ "$selftest" = 0 ] || selftest
print_paths
