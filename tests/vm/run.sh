#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a throw-away QEMU VM with gpumux.ko and run a suite in it.
#
#   tests/vm/run.sh --kernel debian|debug --module PATH/gpumux.ko [--bin DIR]
#                   --suite kmod|bench|demo|daemon|demo-daemon|systemd
#                   [--stage DIR] [--only GLOB] [--tests DIR] [--out FILE]
#                   [--timeout SECONDS] [--test-timeout SECONDS]
#
#   --kernel debian   Debian's kernel, the ABI of the newest installed
#                     /usr/src/linux-headers-*-amd64 (linux-image-<abi> is
#                     fetched with apt-get download into $CACHE/debs).
#   --kernel debug    $CACHE/debug-kernel/bzImage (KASAN, lockdep, kmemleak),
#                     built by tests/vm/debug-kernel.sh when missing.
#   --module FILE     the gpumux.ko to test (its vermagic must match).
#   --bin DIR         every executable in DIR goes into the VM's /bin:
#                     test-* (suite kmod), kmod-bench* (bench), demo-kmod
#                     (needed by those three suites only).
#   --suite NAME      kmod: load, run each test-*, check the kernel log, the
#                           leak counters and rmmod; count PASS/FAIL/SKIP.
#                     bench: run each kmod-bench* PROG as `PROG CSV`; the CSV
#                           comes back to --out FILE.
#                     demo: run demo-kmod, show debugfs gpumux/state.
#                     daemon: load the module, mount the host's root read-only
#                           (9p) at /host, chroot into it and run
#                           tests/daemon/run-suite.sh (each tests/daemon/
#                           test-*.sh|py on a private bus); then the checks
#                           of kmod (counters, log, rmmod).
#                     demo-daemon: the same, running tests/daemon/demo.sh.
#                     systemd: boot the Debian root of tests/vm/mkrootfs.sh
#                           (a qcow2 overlay) with --stage DIR copied over it
#                           and systemd as PID 1; the unit gpumux-vmtest
#                           runs tests/vm/systemd-test.sh.
#   --stage DIR       suite systemd: the `make install DESTDIR=` tree.
#   --only GLOB       suite daemon: run only the tests whose file name
#                     matches GLOB (e.g. 'test-rig*').
#   --tests DIR       suite daemon: the tests' directory (default
#                     tests/daemon; not under /tmp, /run or /var/tmp,
#                     which the guest covers with its own tmpfs).
#   --out FILE        where the bench CSV goes (default build/vm/NAME.csv).
#   --timeout S       kill the VM after S seconds (kmod, demo, demo-daemon
#                     900, bench and daemon 1800, systemd 300; twice that
#                     on the debug kernel).
#   --test-timeout S  kill one test program after S seconds (300).
#
# The last line printed is "N passed, N failed, N skipped"; the exit status
# is 0 when nothing failed and the guest got to its end, 1 otherwise, 2 on
# bad usage.  The guest's side is tests/vm/guest-init.sh.
#
# Environment: CACHE (default ~/.cache/gpumux), BUILD (default build/ in the
# repository), GMVM_ACCEL=tcg|kvm (skip the KVM probe), GMVM_MEM (MiB, 2048),
# GMVM_APPEND (more kernel command-line arguments), GMVM_9P_CACHE (the 9p
# cache mode of /host, suite daemon: loose; none, mmap, fscache).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_SRC=$ROOT/tests/vm
CACHE=${CACHE:-$HOME/.cache/gpumux}
BUILD=${BUILD:-$ROOT/build}
WORK=$BUILD/vm
MEM=${GMVM_MEM:-2048}
QEMU=qemu-system-x86_64
# Bump when the initramfs layout changes in a way the hash does not see.
LAYOUT_VERSION=1

KERNEL_KIND=
MODULE=
BIN_DIR=
SUITE=
OUT=
TIMEOUT=
TEST_TIMEOUT=300
STAGE_DIR=
ONLY=
TESTS_DIR=
# More QEMU arguments and kernel command-line words of the suite.
QEMU_EXTRA=()
SUITE_APPEND=

usage() {
	sed -n '4,54s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

say() { echo "vm: $*"; }

# A failure before the guest runs: still end with the summary line.
die() {
	echo "vm: error: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

# Seconds elapsed since $1 (an $EPOCHREALTIME value), one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------------ kernels

# The version a bzImage announces in its setup header (the string at 0x200
# + the 16-bit value at 0x20e): "RELEASE (USER@HOST) #BUILD DATE".
image_version() {
	local off
	[[ $(dd if="$1" bs=1 skip=$((0x202)) count=4 2>/dev/null) == HdrS ]] || return 1
	off=$(od -An -tu2 -j $((0x20e)) -N2 "$1" | tr -d ' ')
	dd if="$1" bs=1 skip=$((off + 0x200)) count=256 2>/dev/null |
		tr '\0' '\n' | head -n 1
}

# Decompress what bzImage $1 holds from byte $2 on, compressed by $3.
payload() {
	tail -c +$(($2 + 1)) "$1" | case $3 in
	xz) xz -dc --single-stream ;;
	gzip) gzip -dc ;;
	zstd) zstd -qdc ;;
	esac 2>/dev/null
}

# Print the ELF kernel (vmlinux) inside bzImage $1: the first compressed
# stream, of the kinds Debian uses, that decompresses to an ELF file.
unpack_vmlinux() {
	local kind magic off
	for kind in 'xz \xfd7zXZ\x00' 'gzip \x1f\x8b\x08' 'zstd \x28\xb5\x2f\xfd'; do
		read -r kind magic <<<"$kind"
		while read -r off; do
			if [[ $(payload "$1" "$off" "$kind" | head -c 4) == *ELF ]]; then
				payload "$1" "$off" "$kind"
				return 0
			fi
		done < <(LC_ALL=C grep -aboP "$magic" "$1" | cut -d: -f1)
	done
	return 1
}

# True when ELF kernel $1 has the PVH entry note QEMU boots it by (type 18,
# XEN_ELFNOTE_PHYS32_ENTRY).
has_pvh_note() {
	readelf -n "$1" 2>/dev/null |
		grep -E 'Xen[[:space:]]+0x[0-9a-f]+[[:space:]]+Unknown note type: \(0x00000012\)' >/dev/null
}

# The file that says vmlinux $1 (this very file: path, size, time) failed
# to boot by PVH.
pvh_stamp() {
	echo "$CACHE/pvh-failed/$(stat -c '%n %s %Y' "$1" | sha256sum | cut -c1-16)"
}

# Sets BOOT_IMAGE: vmlinux $1 when it is the kernel of KERNEL_IMAGE (its
# banner has the same "#BUILD DATE") and boots by PVH (no decompression
# under TCG: about 3 s faster), else KERNEL_IMAGE.  GMVM_PVH=0 turns it off.
choose_boot_image() {
	BOOT_IMAGE=$KERNEL_IMAGE
	[[ ${GMVM_PVH:-1} != 0 && -f $1 && ! -e $(pvh_stamp "$1") ]] || return 0
	grep -aqF "#${VERSION#* #}" "$1" && has_pvh_note "$1" && BOOT_IMAGE=$1
	return 0
}

# Sets KERNEL_IMAGE and MODULES_DIR for Debian's kernel, fetching and
# unpacking linux-image-<abi> into $CACHE once.
setup_debian_kernel() {
	local hdr abi dir deb
	hdr=$(printf '%s\n' /usr/src/linux-headers-*-amd64 | sort -V | tail -n 1)
	[[ -d $hdr ]] || die "no /usr/src/linux-headers-*-amd64: run scripts/install-deps.sh"
	abi=${hdr##*/linux-headers-} # e.g. 6.1.0-56-amd64
	dir=$CACHE/kernel/$abi
	if [[ ! -e $dir/.unpacked ]]; then
		mkdir -p "$CACHE/debs"
		deb=$(find "$CACHE/debs" -name "linux-image-${abi}_*.deb" | sort -V | tail -n 1)
		if [[ -z $deb ]]; then
			say "fetching linux-image-$abi into $CACHE/debs"
			(cd "$CACHE/debs" && apt-get download "linux-image-$abi") ||
				die "apt-get download linux-image-$abi failed"
			deb=$(find "$CACHE/debs" -name "linux-image-${abi}_*.deb" | sort -V | tail -n 1)
		fi
		say "unpacking ${deb##*/} into $dir"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb -x "$deb" "$dir.tmp"
		touch "$dir.tmp/.unpacked"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	KERNEL_IMAGE=$dir/boot/vmlinuz-$abi
	MODULES_DIR=$dir/lib/modules/$abi
	KCONFIG=$dir/boot/config-$abi
	VERSION=$(image_version "$KERNEL_IMAGE") || die "$KERNEL_IMAGE is not a bzImage"
	# The ELF kernel inside, for booting by PVH.
	if [[ ! -f $dir/vmlinux ]]; then
		if unpack_vmlinux "$KERNEL_IMAGE" >"$dir/vmlinux.tmp"; then
			mv "$dir/vmlinux.tmp" "$dir/vmlinux"
		else
			rm -f "$dir/vmlinux.tmp"
		fi
	fi
	choose_boot_image "$dir/vmlinux"
}

# Sets KERNEL_IMAGE and MODULES_DIR for the debug kernel, building it when
# missing.  It is built with everything gpumux needs built in; MODULES_DIR
# is only set if it also installed modules.
setup_debug_kernel() {
	local dir=$CACHE/debug-kernel
	if [[ ! -f $dir/bzImage ]]; then
		say "no $dir/bzImage: running tests/vm/debug-kernel.sh"
		"$VM_SRC/debug-kernel.sh" || die "tests/vm/debug-kernel.sh failed"
		[[ -f $dir/bzImage ]] || die "tests/vm/debug-kernel.sh made no $dir/bzImage"
	fi
	KERNEL_IMAGE=$dir/bzImage
	KCONFIG=$dir/build/.config
	MODULES_DIR=$(printf '%s\n' "$dir"/modules/lib/modules/* | head -n 1)
	[[ -d $MODULES_DIR ]] || MODULES_DIR=
	VERSION=$(image_version "$KERNEL_IMAGE") || die "$KERNEL_IMAGE is not a bzImage"
	# Its vmlinux, for booting by PVH.
	local elf=$dir/vmlinux
	[[ -f $elf ]] || elf=$dir/build/vmlinux
	choose_boot_image "$elf"
}

# ------------------------------------------------------------------ modules

declare -A DEP_SEEN=()
# The modules gpumux.ko depends on, each after its own dependencies.
DEPS=()
# The modules the suite needs before anything else (9p for the host's root,
# virtio_blk and ext4 for a root disk), each after its own dependencies.
BOOT_MODS=()

# The file of module $1 (dashes and underscores are the same) in MODULES_DIR.
find_module() {
	local a=${1//-/_} b=${1//_/-}
	[[ -n $MODULES_DIR ]] || return 1
	find "$MODULES_DIR" \( -name "$a.ko" -o -name "$b.ko" -o -name "$a.ko.*" \
		-o -name "$b.ko.*" \) -print -quit | grep .
}

# Append the modules that module file $1 needs to the array named $2
# (default DEPS), each after its own dependencies, each once.
add_deps() {
	local names name path
	local -n list=${2:-DEPS}
	IFS=, read -ra names <<<"$(modinfo -F depends "$1")"
	for name in "${names[@]}"; do
		[[ -n $name && -z ${DEP_SEEN[$name]:-} ]] || continue
		DEP_SEEN[$name]=1
		path=$(find_module "$name") ||
			die "${1##*/} needs module $name, not found for this kernel${MODULES_DIR:+ in $MODULES_DIR}"
		add_deps "$path" "${2:-DEPS}"
		list+=("$path")
	done
}

# Kernel options (CONFIG_ without the prefix) of the modules suites may need
# at boot.
declare -A MODULE_CONFIG=(
	[virtio_pci]=VIRTIO_PCI [9pnet_virtio]=NET_9P_VIRTIO [9p]=9P_FS
	[virtio_blk]=VIRTIO_BLK [ext4]=EXT4_FS [crc32c_generic]=CRYPTO_CRC32C
)

# add_boot_modules NAME...: append each module (and what it needs) to
# BOOT_MODS, unless the kernel has it built in.
add_boot_modules() {
	local name opt val path
	for name in "$@"; do
		opt=${MODULE_CONFIG[$name]}
		val=$(sed -n "s/^CONFIG_$opt=//p" "$KCONFIG" 2>/dev/null)
		case $val in
		y) continue ;;
		m) ;;
		*) die "suite $SUITE needs CONFIG_$opt, which the $KERNEL_KIND kernel lacks" ;;
		esac
		[[ -z ${DEP_SEEN[$name]:-} ]] || continue
		path=$(find_module "$name") || die "module $name not found for the $KERNEL_KIND kernel"
		add_deps "$path" BOOT_MODS
		DEP_SEEN[$name]=1
		BOOT_MODS+=("$path")
	done
}

# Copy module $1 to $2, decompressed.
copy_module() {
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*) die "unknown module format: $1" ;;
	esac
}

# ------------------------------------------------------------------ initramfs

# Prints "DEST SRC" for every file the initramfs takes from the host.
initramfs_inputs() {
	local i f
	echo "init $VM_SRC/guest-init.sh"
	echo "bin/busybox $BUSYBOX"
	echo "lib/gmvm/gpumux.ko $MODULE"
	for i in "${!DEPS[@]}"; do
		f=${DEPS[$i]##*/}
		printf 'lib/gmvm/deps/%02d-%s.ko %s\n' "$i" "${f%%.ko*}" "${DEPS[$i]}"
	done
	for i in "${!BOOT_MODS[@]}"; do
		f=${BOOT_MODS[$i]##*/}
		printf 'lib/gmvm/boot/%02d-%s.ko %s\n' "$i" "${f%%.ko*}" "${BOOT_MODS[$i]}"
	done
	[[ -n $BIN_DIR ]] || return 0
	for f in "$BIN_DIR"/*; do
		[[ -f $f && -x $f ]] && echo "bin/${f##*/} $f"
	done
	return 0
}

# Sets INITRAMFS, building it unless one with the same content hash exists.
# The hash covers every input file, this script and LAYOUT_VERSION.
make_initramfs() {
	local inputs key stage dest src applet t0
	inputs=$(initramfs_inputs)
	key=$({
		echo "layout $LAYOUT_VERSION"
		sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
		while read -r dest src; do
			echo "$dest $(sha256sum <"$src" | cut -d' ' -f1)"
		done <<<"$inputs"
	} | sha256sum | cut -c1-16)
	INITRAMFS=$WORK/initramfs-$KERNEL_KIND-$key.cpio.gz
	if [[ -f $INITRAMFS ]]; then
		INITRAMFS_NOTE="cached"
		touch "$INITRAMFS"
		return
	fi
	t0=$EPOCHREALTIME
	stage=$RUN_DIR/stage
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,host,newroot,stage} \
		"$stage"/lib/gmvm/{deps,boot}
	# busybox and a link per applet (bin/sh, sbin/insmod, ...).
	cp "$BUSYBOX" "$stage/bin/busybox"
	while read -r applet; do
		[[ -e $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
	done < <("$BUSYBOX" --list-full)
	# The console for the kernel to hand to /init (needs root; without it
	# /init opens /dev/console itself).
	mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
	while read -r dest src; do
		rm -f "${stage:?}/$dest"
		case $dest in
		lib/gmvm/*) copy_module "$src" "$stage/$dest" ;;
		*) cp "$src" "$stage/$dest" ;;
		esac
	done <<<"$inputs"
	chmod 755 "$stage/init"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -6 >"$INITRAMFS.tmp"
	mv "$INITRAMFS.tmp" "$INITRAMFS"
	rm -rf "$stage"
	INITRAMFS_NOTE="built in $(since "$t0") s"
	# Keep the four newest of this kernel kind.
	find "$WORK" -maxdepth 1 -name "initramfs-$KERNEL_KIND-*.cpio.gz" -printf '%T@ %p\n' |
		sort -rn | tail -n +5 | cut -d' ' -f2- | xargs -r rm -f
}

# ------------------------------------------------------------------ qemu

# sed script for the serial output: drop \r and terminal control sequences
# (SeaBIOS clears the screen).
CLEAN_SERIAL='s/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[c78]//g'

# Seconds the guest may take to boot and start its suite (the HELLO record)
# before it is given up on.
BOOT_LIMIT=${GMVM_BOOT_LIMIT:-120}

# Ask QEMU to quit (its pid file is written once it runs); $1 says why.
stop_qemu() {
	STOP_REASON=$1
	[[ -f $RUN_DIR/qemu.pid ]] && kill "$(<"$RUN_DIR/qemu.pid")" 2>/dev/null
	return 0
}

# run_qemu ACCEL SUITE LIMIT CONSOLE CHANNEL LIVE: boot the VM; its console
# goes to CONSOLE (and to stdout when LIVE is 1), its ttyS1 to CHANNEL.
# QEMU is stopped when LIMIT seconds are over, when the guest has not
# started its suite BOOT_LIMIT seconds in, and when it has ended the suite
# but not powered off 5 s later (a kernel that can only halt).  Sets
# QEMU_RC (124 when LIMIT ran out) and STOP_REASON (boot, halt or empty).
run_qemu() {
	local accel=$1 suite=$2 limit=$3 console=$4 channel=$5 live=$6
	local cpu=() append start end_at='' hello=''
	[[ $accel == kvm ]] && cpu=(-cpu host)
	append="console=ttyS0 panic=-1 quiet log_buf_len=8M gmvm.suite=$suite"
	append+=" gmvm.kernel=$KERNEL_KIND gmvm.test_timeout=$TEST_TIMEOUT"
	[[ $suite == probe ]] || append+="${SUITE_APPEND:+ $SUITE_APPEND}"
	[[ -z ${GMVM_APPEND:-} ]] || append+=" $GMVM_APPEND"
	: >"$channel"
	: >"$console"
	rm -f "$RUN_DIR/qemu.pid" "$RUN_DIR/qemu.rc"
	STOP_REASON=''
	{
		set +e # keep going to record QEMU's exit status
		timeout -k 10 "$limit" "$QEMU" -accel "$accel" "${cpu[@]}" -m "$MEM" -smp 2 \
			-nographic -no-reboot -nic none -pidfile "$RUN_DIR/qemu.pid" \
			-serial mon:stdio -serial "file:$channel" \
			-kernel "$BOOT_IMAGE" -initrd "$INITRAMFS" -append "$append" \
			"${QEMU_EXTRA[@]}" \
			</dev/null 2>&1 | sed -u "$CLEAN_SERIAL" | if [[ $live == 1 ]]; then
			tee "$console"
		else
			cat >"$console"
		fi
		echo "${PIPESTATUS[0]}" >"$RUN_DIR/qemu.rc"
	} 2>/dev/null & # (QEMU's stderr is in the pipe; this is bash's "Aborted")
	QEMU_JOB=$!
	# Watch the guest's records while it runs.
	start=$SECONDS
	while kill -0 "$QEMU_JOB" 2>/dev/null; do
		sleep 0.5
		if [[ -z $hello ]]; then
			if grep -qs '^GMVM:HELLO' "$channel" "$console"; then
				hello=1
			elif ((SECONDS - start > BOOT_LIMIT)); then
				stop_qemu boot
			fi
		elif [[ -z $end_at ]]; then
			grep -qs '^GMVM:END' "$channel" "$console" && end_at=$SECONDS
		elif ((SECONDS - end_at > 5)); then
			stop_qemu halt
		fi
	done
	wait "$QEMU_JOB" || true
	QEMU_JOB=''
	QEMU_RC=$(cat "$RUN_DIR/qemu.rc" 2>/dev/null || echo 255)
}

# Sets ACCEL: kvm only when a VM boots with it, which is tried once per host
# kernel and QEMU version and remembered in $CACHE.
choose_accel() {
	local stamp
	case ${GMVM_ACCEL:-auto} in
	tcg | kvm)
		ACCEL=$GMVM_ACCEL
		return
		;;
	esac
	ACCEL=tcg
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 0
	stamp=$CACHE/kvm-probe-$(uname -r)-$("$QEMU" --version | head -n 1 | tr -cd '0-9.')
	if [[ ! -f $stamp ]]; then
		say "checking whether KVM works (once; remembered in $stamp)"
		run_qemu kvm probe 30 "$RUN_DIR/probe.console" "$RUN_DIR/probe.channel" 0
		if grep -q '^GMVM:END' "$RUN_DIR/probe.channel" "$RUN_DIR/probe.console"; then
			echo kvm >"$stamp"
		else
			echo tcg >"$stamp"
		fi
	fi
	ACCEL=$(<"$stamp")
}

# ------------------------------------------------------------------ results

# Reads the guest's records (the channel; the console when the channel got
# none) into PASSED FAILED SKIPPED, FAIL_LINES, GUEST_* and the files it
# sent into $RUN_DIR/files/.
parse_records() {
	local src=$1 line name sum want file=
	PASSED=0 FAILED=0 SKIPPED=0 FAIL_LINES=() GUEST_END='' GUEST_HELLO='' NOTES=()
	mkdir -p "$RUN_DIR/files"
	while IFS= read -r line; do
		if [[ -n $file ]]; then
			if [[ $line == "GMVM:FILE-END $name" ]]; then
				sum=$(md5sum <"$RUN_DIR/files/$name" | cut -d' ' -f1)
				if [[ $sum != "$want" ]]; then
					FAILED=$((FAILED + 1))
					FAIL_LINES+=("FAIL: vm: transfer of $name: checksum mismatch")
					rm -f "$RUN_DIR/files/$name"
				fi
				file=
			else
				printf '%s\n' "$line" >>"$file"
			fi
			continue
		fi
		case $line in
		"GMVM:HELLO "*) GUEST_HELLO=${line#GMVM:HELLO } ;;
		"GMVM:END "*) GUEST_END=${line#GMVM:END } ;;
		"GMVM:NOTE "*) NOTES+=("${line#GMVM:NOTE }") ;;
		"GMVM:R PASS: "*) PASSED=$((PASSED + 1)) ;;
		"GMVM:R SKIP: "*) SKIPPED=$((SKIPPED + 1)) ;;
		"GMVM:R FAIL: "*)
			FAILED=$((FAILED + 1))
			FAIL_LINES+=("${line#GMVM:R }")
			;;
		"GMVM:FILE "*)
			read -r name want <<<"${line#GMVM:FILE }"
			name=${name//\//_}
			file=$RUN_DIR/files/$name
			: >"$file"
			;;
		esac
	done < <(tr -d '\r' <"$src")
}

# Adds a failure of the rig's own to the tally.
add_failure() {
	FAILED=$((FAILED + 1))
	FAIL_LINES+=("FAIL: $1")
}

# Suite bench: put the CSV files the guest sent where they belong.
deliver_files() {
	local files=("$RUN_DIR"/files/*.csv) main f dir
	if [[ ! -e ${files[0]} ]]; then
		add_failure "vm: bench CSV: the guest sent none"
		return
	fi
	if [[ -n $OUT ]]; then
		# --out gets kmod-bench.csv (else the first); any others go
		# next to it under their own names.
		main=$RUN_DIR/files/kmod-bench.csv
		[[ -f $main ]] || main=${files[0]}
		dir=$(dirname "$OUT")
		mkdir -p "$dir"
		cp "$main" "$OUT"
		say "CSV: $OUT"
		for f in "${files[@]}"; do
			[[ $f == "$main" ]] && continue
			cp "$f" "$dir/${f##*/}"
			say "CSV: $dir/${f##*/}"
		done
	else
		for f in "${files[@]}"; do
			cp "$f" "$WORK/${f##*/}"
			say "CSV: $WORK/${f##*/}"
		done
	fi
}

# ------------------------------------------------------------------ suites

# Suites daemon and demo-daemon: the host's root, read-only over 9p (tag
# hostroot), which the guest mounts at /host and chroots into, so that
# the repository, build/ and the host's programs and libraries are at the
# same paths in the guest.
setup_host_share() {
	local w
	for w in "$ROOT" "$BUILD" "$TESTS_DIR"; do
		[[ $w != *[[:space:]]* ]] || die "path with white space: '$w'"
	done
	QEMU_EXTRA+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
	SUITE_APPEND="gmvm.repo=$ROOT gmvm.build=$BUILD gmvm.9p_cache=${GMVM_9P_CACHE:-loose}"
	[[ -z $ONLY ]] || SUITE_APPEND+=" gmvm.only=$ONLY"
	[[ -z $TESTS_DIR ]] || SUITE_APPEND+=" gmvm.tests=$TESTS_DIR"
}

# Suite systemd: the Debian root of mkrootfs.sh as /dev/vda (snapshot=on:
# the guest's writes go to a temporary file, the image stays as built),
# and the tree to copy over it as 9p tag "stage": --stage DIR (make
# install), gpumux.ko under /usr/lib/modules/<abi>/extra with a modules.dep
# made by depmod here, the test unit and its polkit rule.
setup_systemd() {
	local rootfs stage moddir d rel t0=$EPOCHREALTIME
	[[ -n $MODULES_DIR ]] || die "suite systemd needs a kernel with modules (KERNEL=debian)"
	rootfs=$("$VM_SRC/mkrootfs.sh" | tail -n 1) && [[ -f $rootfs ]] ||
		die "tests/vm/mkrootfs.sh failed"
	stage=$RUN_DIR/root-stage
	mkdir -p "$stage"
	[[ -z $STAGE_DIR ]] || cp -a "$STAGE_DIR/." "$stage/"
	# The root is merged-/usr (/lib -> usr/lib, ...): move what the
	# install put in /lib, /bin, /sbin, /lib64 under /usr, or copying the
	# directory over the symbolic link in the guest would fail.
	for d in bin sbin lib lib64; do
		if [[ -d $stage/$d && ! -L $stage/$d ]]; then
			mkdir -p "$stage/usr/$d"
			cp -a "$stage/$d/." "$stage/usr/$d/"
			rm -rf "${stage:?}/$d"
		fi
	done
	moddir=$stage/usr/lib/modules/$RELEASE
	mkdir -p "$moddir/extra"
	copy_module "$MODULE" "$moddir/extra/gpumux.ko"
	for d in "${DEPS[@]}"; do
		rel=${d#"$MODULES_DIR"/}
		mkdir -p "$moddir/$(dirname "$rel")"
		copy_module "$d" "$moddir/${rel%%.ko*}.ko"
	done
	for d in modules.builtin modules.builtin.modinfo modules.order; do
		[[ ! -f $MODULES_DIR/$d ]] || cp "$MODULES_DIR/$d" "$moddir/"
	done
	depmod -b "$stage/usr" "$RELEASE" || die "depmod failed"
	# The test: a unit that runs systemd-test.sh once the system is up.
	install -D -m 755 "$VM_SRC/systemd-test.sh" "$stage/usr/lib/gpumux-vmtest/systemd-test.sh"
	install -D -m 644 "$VM_SRC/gpumux-vmtest.service" \
		"$stage/etc/systemd/system/gpumux-vmtest.service"
	install -D -m 644 "$VM_SRC/gmvm-test.rules" "$stage/etc/polkit-1/rules.d/49-gmvm-test.rules"
	mkdir -p "$stage/etc/systemd/system/multi-user.target.wants"
	ln -sf ../gpumux-vmtest.service "$stage/etc/systemd/system/multi-user.target.wants/"
	QEMU_EXTRA+=(-vga none
		-drive "file=$rootfs,if=virtio,format=raw,snapshot=on,cache=unsafe"
		-virtfs "local,path=$stage,mount_tag=stage,security_model=none,readonly=on")
	SUITE_APPEND="systemd.show_status=1"
	say "root ${rootfs/#$HOME/\~}, staged in $(since "$t0") s ($(du -sk "$stage" | cut -f1) KiB)"
}

# ------------------------------------------------------------------ main

while [[ $# -gt 0 ]]; do
	[[ $1 == -h || $1 == --help ]] && usage
	[[ $# -ge 2 ]] || usage
	case $1 in
	--kernel) KERNEL_KIND=$2 ;;
	--module) MODULE=$2 ;;
	--bin) BIN_DIR=$2 ;;
	--suite) SUITE=$2 ;;
	--out) OUT=$2 ;;
	--timeout) TIMEOUT=$2 ;;
	--test-timeout) TEST_TIMEOUT=$2 ;;
	--stage) STAGE_DIR=$2 ;;
	--only) ONLY=$2 ;;
	--tests) TESTS_DIR=$(realpath "$2") ;;
	*) usage ;;
	esac
	shift 2
done
[[ $KERNEL_KIND == debian || $KERNEL_KIND == debug ]] || usage
case $SUITE in
kmod | bench | demo) [[ -n $BIN_DIR ]] || usage ;;
daemon | demo-daemon | systemd) ;;
*) usage ;;
esac
[[ -n $MODULE ]] || usage
[[ $TEST_TIMEOUT =~ ^[0-9]+$ && ${TIMEOUT:-1} =~ ^[0-9]+$ ]] || usage
[[ $ONLY != *[[:space:]]* ]] || die "--only: no white space please"
if [[ -z $TIMEOUT ]]; then
	TIMEOUT=900
	[[ $SUITE == bench || $SUITE == daemon ]] && TIMEOUT=1800
	[[ $SUITE == systemd ]] && TIMEOUT=300
	[[ $KERNEL_KIND == debug ]] && TIMEOUT=$((TIMEOUT * 2))
fi

[[ -f $MODULE ]] || die "no module $MODULE (make vm-module KERNEL=$KERNEL_KIND)"
[[ -z $BIN_DIR || -d $BIN_DIR ]] || die "no directory $BIN_DIR (make tests-kmod)"
[[ -z $STAGE_DIR || -d $STAGE_DIR ]] || die "no directory $STAGE_DIR"
BUSYBOX=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
file -L "$BUSYBOX" | grep 'statically linked' >/dev/null ||
	die "$BUSYBOX is not static (apt-get install busybox-static)"
command -v "$QEMU" >/dev/null || die "$QEMU not found (apt-get install qemu-system-x86)"
MODULE=$(realpath "$MODULE")
[[ -z $BIN_DIR ]] || BIN_DIR=$(realpath "$BIN_DIR")

mkdir -p "$WORK" "$CACHE"
RUN_DIR=$(mktemp -d "$WORK/run.XXXXXX")
QEMU_JOB=''
# On the way out (Ctrl-C included: the background QEMU ignores SIGINT),
# stop QEMU if it still runs and remove the scratch directory.
cleanup() {
	if [[ -n $QEMU_JOB ]]; then
		stop_qemu exit
		wait "$QEMU_JOB" 2>/dev/null || true
	fi
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $KERNEL_KIND == debian ]]; then
	setup_debian_kernel
else
	setup_debug_kernel
fi
RELEASE=${VERSION%% *}
VERMAGIC=$(modinfo -F vermagic "$MODULE" | cut -d' ' -f1)
[[ $VERMAGIC == "$RELEASE" ]] ||
	die "$MODULE is built for $VERMAGIC, the $KERNEL_KIND kernel is $RELEASE (make vm-module KERNEL=$KERNEL_KIND)"

case $SUITE in
daemon | demo-daemon) add_boot_modules virtio_pci 9pnet_virtio 9p ;;
systemd) add_boot_modules virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p ;;
esac
add_deps "$MODULE"
make_initramfs
choose_accel
case $SUITE in
daemon | demo-daemon) setup_host_share ;;
systemd) setup_systemd ;;
esac

say "suite $SUITE: kernel $KERNEL_KIND $RELEASE (${BOOT_IMAGE/#$HOME/\~})," \
	"$ACCEL, $MEM MiB, limit ${TIMEOUT}s (each test ${TEST_TIMEOUT}s)"
say "initramfs ${INITRAMFS##*/} ($(du -k "$INITRAMFS" | cut -f1) KiB, $INITRAMFS_NOTE);" \
	"modules loaded first: ${DEPS[*]##*/}${DEPS[*]:+, then }gpumux.ko"
[[ ${#BOOT_MODS[@]} == 0 ]] || say "boot modules: ${BOOT_MODS[*]##*/}"

t0=$EPOCHREALTIME
run_qemu "$ACCEL" "$SUITE" "$TIMEOUT" "$RUN_DIR/console.log" "$RUN_DIR/channel.log" 1
# A vmlinux that does not boot by PVH: use the bzImage, now and from now on.
# (Exit status 1 is QEMU refusing its arguments, not the kernel's fault.)
if [[ $BOOT_IMAGE != "$KERNEL_IMAGE" && $QEMU_RC != 1 ]] &&
	! grep -qs '^GMVM:HELLO' "$RUN_DIR/channel.log" "$RUN_DIR/console.log"; then
	say "no boot from ${BOOT_IMAGE/#$HOME/\~} by PVH: using the bzImage (remembered)"
	mkdir -p "$(dirname "$(pvh_stamp "$BOOT_IMAGE")")"
	touch "$(pvh_stamp "$BOOT_IMAGE")"
	BOOT_IMAGE=$KERNEL_IMAGE
	t0=$EPOCHREALTIME
	run_qemu "$ACCEL" "$SUITE" "$TIMEOUT" "$RUN_DIR/console.log" "$RUN_DIR/channel.log" 1
fi
QEMU_TIME=$(since "$t0")

# The channel is authoritative; the console is the fallback when ttyS1 did
# not work in the guest.
records=$RUN_DIR/channel.log
grep -q '^GMVM:HELLO' "$records" || records=$RUN_DIR/console.log
parse_records "$records"

if [[ -z $GUEST_END ]]; then
	if [[ $STOP_REASON == boot ]]; then
		add_failure "vm: the guest did not start its suite within ${BOOT_LIMIT}s"
	elif [[ $QEMU_RC == 124 || $QEMU_RC == 137 ]]; then
		add_failure "vm: the guest did not finish: killed after ${TIMEOUT}s"
	elif grep -q 'Kernel panic' "$RUN_DIR/console.log"; then
		add_failure "vm: the guest did not finish: kernel panic"
	elif [[ -z $GUEST_HELLO ]]; then
		add_failure "vm: the guest did not start its suite (qemu exit status $QEMU_RC)"
	else
		add_failure "vm: the guest did not finish (qemu exit status $QEMU_RC)"
	fi
else
	read -r gp gf gs END_UPTIME <<<"$GUEST_END"
	# The guest's own tally must match what arrived.
	[[ "$gp $gf $gs" == "$PASSED $FAILED $SKIPPED" ]] ||
		add_failure "vm: results lost: the guest counted $gp/$gf/$gs, the host got $PASSED/$FAILED/$SKIPPED"
fi
[[ $SUITE != bench ]] || deliver_files

# Keep the logs of the last run of each suite and kernel.
cp "$RUN_DIR/console.log" "$WORK/$SUITE-$KERNEL_KIND.console.log"
cp "$RUN_DIR/channel.log" "$WORK/$SUITE-$KERNEL_KIND.channel.log"

echo
say "---- $SUITE on the $KERNEL_KIND kernel: console log in" \
	"${WORK#"$ROOT"/}/$SUITE-$KERNEL_KIND.console.log"
for line in "${NOTES[@]}"; do
	say "note: $line"
done
for line in "${FAIL_LINES[@]}"; do
	say "$line"
done
timing="initramfs $INITRAMFS_NOTE, qemu ran ${QEMU_TIME} s"
if [[ -n $GUEST_HELLO ]]; then
	boot=${GUEST_HELLO#* }
	timing+=" (boot ${boot} s"
	[[ -z $GUEST_END ]] || timing+=", suite $(awk -v a="$boot" -v b="$END_UPTIME" 'BEGIN { printf "%.1f", b - a }') s"
	timing+=")"
fi
say "timings: $timing"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[[ $FAILED -eq 0 && -n $GUEST_END ]]
