#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the gpumux test VM (busybox ash, PID 1).  Put in the initramfs by
# tests/vm/run.sh, which also documents the layout:
#
#   /lib/gmvm/gpumux.ko         the module under test
#   /lib/gmvm/deps/NN-name.ko   modules it depends on, loaded in NN order
#   /lib/gmvm/boot/NN-name.ko   modules the suite needs first (9p, virtio_blk,
#                               ext4), loaded in NN order
#   /bin/test-*                 test programs       (suite kmod)
#   /bin/kmod-bench*            benchmark programs  (suite bench)
#   /bin/demo-kmod              the demo            (suite demo)
#
# What to do comes from the kernel command line:
#   gmvm.suite=kmod|bench|demo|daemon|demo-daemon|systemd|probe
#   gmvm.kernel=debian|debug
#   gmvm.test_timeout=SECONDS          (per test program, suites kmod, daemon)
#   gmvm.repo=DIR gmvm.build=DIR       (suites daemon, demo-daemon: the
#                                      repository and build/ on the host)
#   gmvm.9p_cache=MODE                 (the 9p cache mode of /host)
#   gmvm.only=GLOB                     (suite daemon: the tests to run)
#   gmvm.tests=DIR                     (suite daemon: where they are)
#
# Output goes two ways.  The console (ttyS0) is for people: everything that
# happens, interleaved with kernel messages.  The channel (ttyS1, a file on
# the host) is for run.sh: one record per line, never mixed with kernel
# messages:
#
#   GMVM:HELLO <suite> <uptime>          the suite starts
#   GMVM:R PASS: name                    one sub-test result (also FAIL:, SKIP:)
#   GMVM:NOTE text                       a line for the host's summary
#   GMVM:FILE <name> <md5>               a file follows, line by line, up to
#   GMVM:FILE-END <name>
#   GMVM:END <passed> <failed> <skipped> <uptime>   the suite is over
#
# When ttyS1 is missing the records go to the console instead.
#
# Each check the rig makes itself (insmod, log scan, counters, rmmod) is a
# sub-test named "vm: ...", counted like the programs' own.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

SUITE=kmod
KERNEL=debian
TEST_TIMEOUT=300
REPO=
BUILD=
CACHE_9P=loose
ONLY=
TESTS=
# Where the host's root is mounted (suites daemon, demo-daemon).
HOST=/host
MODULE=/lib/gmvm/gpumux.ko
DEBUGFS=/sys/kernel/debug
COUNTERS=$DEBUGFS/gpumux/counters
KMEMLEAK=$DEBUGFS/kmemleak
# Counters that must be back to 0 once every program has exited.
LEAK_COUNTERS="tenants buffers pages pinned_bytes grants pending_cmds"
# Kernel log lines that mean a kernel bug (extended regexp).
# ("BUG <cache> (...)" is SLUB's report of a corrupted object.)
BAD_LOG='WARNING:|BUG:|kernel BUG at|BUG [^ ]+ \(|Oops|invalid opcode'
BAD_LOG="$BAD_LOG|general protection|Unable to handle|Kernel panic"
BAD_LOG="$BAD_LOG|refcount_t|list_(add|del) corruption|UBSAN|KASAN"
BAD_LOG="$BAD_LOG|sleeping function called from invalid context"
BAD_LOG="$BAD_LOG|possible circular locking|inconsistent lock state"
BAD_LOG="$BAD_LOG|possible recursive locking|suspicious RCU usage"
BAD_LOG="$BAD_LOG|blocked for more than|detected stall"
# (kmemleak's reports have a check of their own: check_kmemleak.)
# Taint flags a kernel bug leaves behind: B (bad page), D (oops), W (warning),
# L (soft lockup).  Used when the log lost the report.
BAD_TAINT=$(((1 << 5) | (1 << 7) | (1 << 9) | (1 << 14)))

NPASS=0
NFAIL=0
NSKIP=0

# ---------------------------------------------------------------- helpers

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Whole seconds since boot.
now_s() { uptime_s | cut -d. -f1; }

say() { echo "gmvm: $*"; }

# Send one record on the channel (fd 9).
record() { echo "GMVM:$*" >&9; }

# True when $1 is a result line: "PASS: ...", "FAIL: ..." or "SKIP: ...".
is_result() {
	case $1 in
	"PASS: "* | "FAIL: "* | "SKIP: "*) return 0 ;;
	esac
	return 1
}

# Count result line $1 in this shell's tally.
tally() {
	case $1 in
	"PASS: "*) NPASS=$((NPASS + 1)) ;;
	"FAIL: "*) NFAIL=$((NFAIL + 1)) ;;
	"SKIP: "*) NSKIP=$((NSKIP + 1)) ;;
	esac
}

# result PASS|FAIL|SKIP NAME [WHY]: a result of the rig's own; printed,
# counted and sent to the host.
result() {
	line="$1: $2${3:+: $3}"
	echo "$line"
	tally "$line"
	record "R $line"
}

# Send file $2 to the host under the name $1.
send_file() {
	record "FILE $1 $(md5sum <"$2" | cut -d' ' -f1)"
	cat "$2" >&9
	# A file without a final newline must not swallow the end marker.
	[ -z "$(tail -c 1 "$2")" ] || echo >&9
	record "FILE-END $1"
}

# Write a marker into the kernel log; scan_log reads what follows it.
log_mark() { echo "gmvm: mark $1" >/dev/kmsg; }

# scan_log MARK NAME: sub-test NAME fails when the kernel log after
# "gmvm: mark MARK" holds a line of BAD_LOG; prints the report.
scan_log() {
	dmesg -s 16777216 | sed -n "/gmvm: mark $1\$/,\$p" >"/tmp/log.$1"
	grep -E "$BAD_LOG" "/tmp/log.$1" >"/tmp/hits.$1"
	if [ ! -s "/tmp/hits.$1" ]; then
		result PASS "$2"
		return
	fi
	say "kernel log after mark '$1': bad lines (at most 20):"
	head -n 20 "/tmp/hits.$1"
	say "kernel log from the first bad line (at most 80 lines):"
	first=$(grep -nE "$BAD_LOG" "/tmp/log.$1" | head -n 1 | cut -d: -f1)
	tail -n +"$first" "/tmp/log.$1" | head -n 80
	say "--- end of kernel log excerpt"
	result FAIL "$2" "$(wc -l <"/tmp/hits.$1") bad line(s), first: $(head -n 1 "/tmp/hits.$1")"
}

# The kernel's taint flags that came up since $TAINT0 and are in BAD_TAINT.
new_taint() {
	echo $((($(cat /proc/sys/kernel/tainted) & ~TAINT0) & BAD_TAINT))
}

# wait_for FILE SECS: wait until FILE exists, for at most SECS seconds.
wait_for() {
	ticks=0
	while [ ! -e "$1" ]; do
		[ $ticks -lt $(($2 * 5)) ] || return 1
		sleep 0.2
		ticks=$((ticks + 1))
	done
}

# bounded SECS CMD...: run CMD, its output in the file $OUTF, and set RC to
# its exit status, or to "stuck" when it is still running SECS seconds
# later.  A task stuck in the kernel cannot be killed: it is left behind
# and the suite goes on, so a hang costs SECS, not the whole VM's time.
SEQ=0
bounded() {
	secs=$1
	shift
	SEQ=$((SEQ + 1))
	OUTF=/tmp/cmd.$SEQ
	("$@" >"$OUTF" 2>&1 </dev/null; echo $? >"$OUTF.rc.tmp"
		mv "$OUTF.rc.tmp" "$OUTF.rc") 9>&- &
	if wait_for "$OUTF.rc" "$secs"; then
		wait $!
		RC=$(cat "$OUTF.rc")
	else
		RC=stuck
	fi
}

# Why the command bounded ran last failed, in a few words.
why() {
	case $RC in
	stuck) echo "still running after ${secs}s (stuck in the kernel?)" ;;
	*)
		if [ "$RC" -gt 128 ]; then
			echo "killed by signal $((RC - 128))"
		else
			echo "$(head -n 1 "$OUTF") (exit status $RC)"
		fi
		;;
	esac
}

# Copy lines from stdin to the console and to file $1; with $2 = record,
# send the result lines among them to the host as they come, so that what a
# program reported before the VM died still counts, and "NOTE: text" lines
# as notes for the host's summary.
relay() {
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line"
		printf '%s\n' "$line" >>"$1"
		[ "$2" = record ] || continue
		if is_result "$line"; then
			record "R $line"
		else
			case $line in "NOTE: "*) record "NOTE ${line#NOTE: }" ;; esac
		fi
	done
}

# run_prog SECS NAME record|- CMD...: run CMD with a time limit, its output
# on the console and in /tmp/out.NAME (see relay); set RC to its exit
# status, or to "stuck" when it has not ended 15 s after it was killed
# (stuck in the kernel, or a child of it holds its output open).
run_prog() {
	secs=$1 name=$2 mode=$3
	shift 3
	: >"/tmp/out.$name"
	(
		{
			timeout -s KILL "$secs" "$@" </dev/null 2>&1 9>&-
			echo $? >"/tmp/rc.$name.tmp"
		} | relay "/tmp/out.$name" "$mode"
		mv "/tmp/rc.$name.tmp" "/tmp/rc.$name"
	) &
	if wait_for "/tmp/rc.$name" $((secs + 15)); then
		wait $!
		RC=$(cat "/tmp/rc.$name")
	else
		RC=stuck
	fi
}

# Load the dependencies, then the module.  Sub-test "vm: insmod gpumux.ko".
load_module() {
	for dep in /lib/gmvm/deps/*.ko; do
		[ -e "$dep" ] || continue
		bounded 60 insmod "$dep"
		if [ "$RC" != 0 ]; then
			result FAIL "vm: insmod gpumux.ko" "dependency ${dep##*/}: $(why)"
			return 1
		fi
	done
	bounded 60 insmod "$MODULE"
	if [ "$RC" != 0 ]; then
		result FAIL "vm: insmod gpumux.ko" "$(why)"
		dmesg | tail -n 30
		return 1
	fi
	result PASS "vm: insmod gpumux.ko"
}

# rmmod, retried while the module is busy: io_uring tears its rings down in
# a workqueue, so a program that just exited may hold it for a moment.
unload_module() {
	tries=0
	while :; do
		bounded 30 rmmod gpumux
		if [ "$RC" = 0 ]; then
			result PASS "vm: rmmod gpumux"
			return 0
		fi
		tries=$((tries + 1))
		if [ "$RC" = stuck ] || [ $tries -ge 15 ] ||
			! grep -q 'temporarily unavailable\|in use' "$OUTF"; then
			result FAIL "vm: rmmod gpumux" "$(why)"
			return 1
		fi
		sleep 1
	done
}

# run_test PROG: run one test program with a time limit and count its
# results.  A program that fails without saying why, dies of a signal or
# runs out of time is one more failure, named after it.
run_test() {
	run_counted "$TEST_TIMEOUT" "${1##*/}" "$1"
}

# run_counted SECS NAME CMD...: run_test's work for any command.
run_counted() {
	limit=$1 name=$2
	shift 2
	say "=== $name (limit ${limit}s)"
	start=$(now_s)
	run_prog "$limit" "$name" record "$@"
	took=$(($(now_s) - start))
	nres=0
	nfail=0
	# Count its result lines (relay has sent them to the host).
	while IFS= read -r line || [ -n "$line" ]; do
		is_result "$line" || continue
		nres=$((nres + 1))
		case $line in "FAIL: "*) nfail=$((nfail + 1)) ;; esac
		tally "$line"
	done <"/tmp/out.$name"
	if [ "$RC" = stuck ]; then
		result FAIL "$name" "still running ${took}s after it was started: stuck in the kernel?"
	elif [ "$RC" -gt 128 ]; then
		if [ "$took" -ge "$limit" ]; then
			result FAIL "$name" "timed out after ${limit}s"
		else
			result FAIL "$name" "killed by signal $((RC - 128))"
		fi
	elif [ "$RC" -eq 77 ]; then
		[ $nres -gt 0 ] || result SKIP "$name" "program skipped (exit 77)"
	elif [ "$RC" -ne 0 ]; then
		[ $nfail -gt 0 ] || result FAIL "$name" "exit status $RC without a FAIL line"
	elif [ $nres -eq 0 ]; then
		result PASS "$name"
	fi
	say "=== $name: exit $RC after ${took}s"
}

# Sub-test: rmmod must be refused while /dev/gpumux is held open (the
# control fd pins the module through its file_operations' owner).  A
# background shell holds it (not this one: a failed "exec" redirection
# would end PID 1) and says so by creating /tmp/holding.
check_rmmod_busy() {
	name="vm: rmmod refused while /dev/gpumux is open"
	rm -f /tmp/holding
	(exec 8<>/dev/gpumux && : >/tmp/holding && exec sleep 600) \
		</dev/null 2>/dev/null 9>&- &
	holder=$!
	if ! wait_for /tmp/holding 5; then
		result SKIP "$name" "cannot open /dev/gpumux"
		return
	fi
	bounded 30 rmmod gpumux
	if [ "$RC" = 0 ]; then
		result FAIL "$name" "rmmod succeeded"
		# Put it back so the checks that follow still find it.
		bounded 60 insmod "$MODULE"
		[ "$RC" = 0 ] || say "reloading the module failed: $(why)"
	elif [ "$RC" = stuck ]; then
		result FAIL "$name" "$(why)"
	else
		result PASS "$name"
	fi
	kill $holder
	wait $holder 2>/dev/null
}

# The value of counter $1 in the copy in /tmp/counters ("" if none).
counter() { awk -v n="$1" '$1 == n { print $2 }' /tmp/counters; }

# Sub-tests: each leak counter is 0.  Retried for a few seconds, as teardown
# can lag behind the programs' exit (see unload_module).
check_counters() {
	tries=0
	while :; do
		bounded 10 cat "$COUNTERS"
		if [ "$RC" != 0 ]; then
			result FAIL "vm: counters readable" "$(why)"
			return
		fi
		cp "$OUTF" /tmp/counters
		bad=
		for c in $LEAK_COUNTERS; do
			[ "$(counter "$c")" = 0 ] || bad="$bad $c"
		done
		tries=$((tries + 1))
		if [ -z "$bad" ] || [ $tries -ge 10 ]; then
			break
		fi
		sleep 1
	done
	say "counters:"
	cat /tmp/counters
	for c in $LEAK_COUNTERS; do
		v=$(counter "$c")
		if [ -z "$v" ]; then
			result FAIL "vm: counter $c is 0" "no such counter"
		elif [ "$v" != 0 ]; then
			result FAIL "vm: counter $c is 0" "it is $v"
		else
			result PASS "vm: counter $c is 0"
		fi
	done
}

# kmemleak (debug kernel): forget what boot leaked, before the module loads.
# "clear" only forgets leaks that were reported, that is read: hence cat.
kmemleak_reset() {
	[ -w "$KMEMLEAK" ] || return 0
	bounded 600 sh -c "echo scan >$KMEMLEAK && cat $KMEMLEAK && echo clear >$KMEMLEAK"
	n=$(grep -c '^unreferenced object' "$OUTF")
	say "kmemleak: $n object(s) leaked before the suite, ignored (exit status $RC)"
}

# Sub-test: no leak reported since kmemleak_reset.  kmemleak only reports
# objects older than 5 s, hence the wait before the scan.
check_kmemleak() {
	if [ ! -w "$KMEMLEAK" ]; then
		result FAIL "vm: kmemleak" "$KMEMLEAK missing in the debug kernel"
		return
	fi
	sleep 6
	bounded 600 sh -c "echo scan >$KMEMLEAK"
	if [ "$RC" != 0 ]; then
		result FAIL "vm: kmemleak" "scan: $(why)"
		return
	fi
	cat "$KMEMLEAK" >/tmp/kmemleak
	if [ -s /tmp/kmemleak ]; then
		say "kmemleak report:"
		cat /tmp/kmemleak
		n=$(grep -c '^unreferenced object' /tmp/kmemleak)
		g=$(grep -c gpumux /tmp/kmemleak)
		result FAIL "vm: kmemleak" "$n unreferenced object(s), $g line(s) naming gpumux"
	else
		result PASS "vm: kmemleak"
	fi
}

# The end of every suite: scan the log, unload, scan again.
finish_module() {
	scan_log tests "vm: kernel log clean while loaded"
	log_mark unload
	unload_module
	[ "$KERNEL" != debug ] || check_kmemleak
	scan_log unload "vm: kernel log clean after rmmod"
	t=$(new_taint)
	if [ "$t" -ne 0 ] && ! [ -s /tmp/hits.tests ] && ! [ -s /tmp/hits.unload ]; then
		result FAIL "vm: kernel taint" "bad taint flags $t but no report in the log"
	fi
}

# ---------------------------------------------------------------- suites

suite_kmod() {
	if ! load_module; then
		for t in /bin/test-*; do
			[ -x "$t" ] && result FAIL "${t##*/}" "not run: the module did not load"
		done
		return
	fi
	if [ -c /dev/gpumux ]; then
		result PASS "vm: /dev/gpumux exists"
	else
		result FAIL "vm: /dev/gpumux exists" "no character device"
	fi
	for t in /bin/test-*; do
		[ -x "$t" ] && run_test "$t"
	done
	check_counters
	check_rmmod_busy
	finish_module
}

# Programs of suites bench and demo have no time limit of their own: the
# host's limit on the whole VM is theirs.
NO_LIMIT=86400

suite_bench() {
	load_module || return
	mkdir -p /tmp/bench
	for b in /bin/kmod-bench*; do
		[ -x "$b" ] || continue
		name=${b##*/}
		say "=== $name /tmp/bench/$name.csv"
		run_prog $NO_LIMIT "$name" - "$b" "/tmp/bench/$name.csv"
		if [ "$RC" = 0 ]; then
			result PASS "$name"
		else
			result FAIL "$name" "exit status $RC"
		fi
		[ ! -f "/tmp/bench/$name.csv" ] || send_file "$name.csv" "/tmp/bench/$name.csv"
	done
	finish_module
}

suite_demo() {
	load_module || return
	if [ -x /bin/demo-kmod ]; then
		say "=== demo-kmod"
		run_prog $NO_LIMIT demo-kmod - /bin/demo-kmod
		if [ "$RC" = 0 ]; then
			result PASS demo-kmod
		else
			result FAIL demo-kmod "exit status $RC"
		fi
	else
		result SKIP demo-kmod "no /bin/demo-kmod in the initramfs"
	fi
	say "=== $DEBUGFS/gpumux/state"
	bounded 10 cat "$DEBUGFS/gpumux/state"
	cat "$OUTF"
	[ "$RC" = 0 ] || result FAIL "vm: gpumux state" "$(why)"
	finish_module
}

# ------------------------------------------- suites daemon, demo-daemon

# Load the modules the suite needs first (/lib/gmvm/boot, in order).
# Sub-test "vm: boot modules", reported when it fails.
load_boot_modules() {
	for m in /lib/gmvm/boot/*.ko; do
		[ -e "$m" ] || continue
		bounded 60 insmod "$m"
		if [ "$RC" != 0 ]; then
			result FAIL "vm: boot modules" "insmod ${m##*/}: $(why)"
			return 1
		fi
	done
}

# mount_9p TAG DIR [OPTIONS]: mount the host's 9p share TAG read-only.
mount_9p() {
	bounded 60 mount -t 9p \
		-o "trans=virtio,version=9p2000.L,msize=512000,ro${3:+,$3}" "$1" "$2"
}

# The host's root (9p tag hostroot, read-only) at $HOST, with the guest's
# own proc, sys, dev, debugfs and cgroup2 over it and tmpfs where programs
# write (/tmp, /run, /var/tmp, /dev/shm).  Sub-test "vm: mount the host's
# root".
mount_host() {
	name="vm: mount the host's root"
	load_boot_modules || return 1
	t0=$(uptime_s)
	mkdir -p $HOST
	mount_9p hostroot $HOST "cache=$CACHE_9P"
	if [ "$RC" != 0 ]; then
		result FAIL "$name" "9p: $(why)"
		return 1
	fi
	for m in "proc proc /proc" "sysfs sysfs /sys" "devtmpfs devtmpfs /dev" \
		"devpts devpts /dev/pts gid=5,mode=620,ptmxmode=666" \
		"tmpfs tmpfs /dev/shm mode=1777" "debugfs debugfs /sys/kernel/debug" \
		"cgroup2 cgroup2 /sys/fs/cgroup" "tmpfs tmpfs /tmp mode=1777" \
		"tmpfs tmpfs /run mode=755" "tmpfs tmpfs /var/tmp mode=1777"; do
		# shellcheck disable=SC2086 # the words of one mount
		set -- $m
		[ -d "$HOST$3" ] || mkdir -p "$HOST$3" 2>/dev/null
		bounded 30 mount -t "$1" ${4:+-o "$4"} "$2" "$HOST$3"
		if [ "$RC" != 0 ]; then
			result FAIL "$name" "$1 on $3: $(why)"
			return 1
		fi
	done
	# What udev would add: /dev/fd (bash's process substitution) & co.
	ln -s /proc/self/fd $HOST/dev/fd
	ln -s /proc/self/fd/0 $HOST/dev/stdin
	ln -s /proc/self/fd/1 $HOST/dev/stdout
	ln -s /proc/self/fd/2 $HOST/dev/stderr
	if [ ! -f "$HOST$REPO/tests/daemon/run-suite.sh" ]; then
		result FAIL "$name" "no $REPO/tests/daemon/run-suite.sh under $HOST"
		return 1
	fi
	result PASS "$name"
	record "NOTE 9p: host root mounted in $(awk -v a="$t0" -v b="$(uptime_s)" \
		'BEGIN { printf "%.2f", b - a }') s (cache=$CACHE_9P)"
}

# Sub-test: no process is left in the chroot once its suite is over.  Any
# that is gets killed, so that rmmod is not refused because of it.
kill_leftovers() {
	left=
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = $HOST ] || continue
		left="$left ${p#/proc/}($(cat "$p/comm" 2>/dev/null))"
		kill -9 "${p#/proc/}" 2>/dev/null
	done
	if [ -z "$left" ]; then
		result PASS "vm: the suite left no process behind"
	else
		result FAIL "vm: the suite left no process behind" "killed:$left"
		sleep 1
	fi
}

# suite_daemon [--demo]: tests/daemon/run-suite.sh in the host's root, then
# the module checks of suite kmod.
suite_daemon() {
	if ! load_module; then
		result FAIL "daemon suite" "not run: the module did not load"
		return
	fi
	if [ -c /dev/gpumux ]; then
		result PASS "vm: /dev/gpumux exists"
	else
		result FAIL "vm: /dev/gpumux exists" "no character device"
	fi
	# Loopback, for the engines' HTTP servers (busybox's ip applet).
	ip link set lo up 2>/dev/null || say "cannot bring up lo"
	if mount_host; then
		# The runner has its own limit per test; the host's limit on the
		# whole VM is its own.
		run_counted $NO_LIMIT run-suite chroot $HOST /usr/bin/env -i \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/tmp LANG=C.UTF-8 TERM=dumb GMVM_GUEST=1 \
			GMVM_KERNEL="$KERNEL" GMVM_TEST_TIMEOUT="$TEST_TIMEOUT" \
			GMVM_ONLY="$ONLY" GMVM_TESTS_DIR="$TESTS" \
			GPUMUX_REPO="$REPO" GPUMUX_BUILD="$BUILD" \
			/bin/bash "$REPO/tests/daemon/run-suite.sh" "$@"
		kill_leftovers
	fi
	check_counters
	[ "$1" = --demo ] || check_rmmod_busy
	finish_module
}

# ------------------------------------------------------ suite systemd

# Mount the root disk at /newroot and copy the stage (9p tag "stage") over
# it.  Failures only are reported, as "vm: root disk": on success the test
# unit in the booted system sends every result.
prepare_root() {
	load_boot_modules || return 1
	if ! wait_for /dev/vda 10; then
		result FAIL "vm: root disk" "no /dev/vda"
		return 1
	fi
	bounded 60 mount -t ext4 -o rw /dev/vda /newroot
	if [ "$RC" != 0 ]; then
		result FAIL "vm: root disk" "mount: $(why)"
		return 1
	fi
	mount_9p stage /stage
	if [ "$RC" != 0 ]; then
		result FAIL "vm: root disk" "9p stage: $(why)"
		return 1
	fi
	bounded 300 cp -a /stage/. /newroot/
	if [ "$RC" != 0 ]; then
		result FAIL "vm: root disk" "copying the stage: $(why)"
		return 1
	fi
	umount /stage
	bounded 60 chroot /newroot /sbin/ldconfig
	if [ "$RC" != 0 ]; then
		result FAIL "vm: root disk" "ldconfig: $(why)"
		return 1
	fi
	if [ ! -x /newroot/lib/systemd/systemd ]; then
		result FAIL "vm: root disk" "no /lib/systemd/systemd on it"
		return 1
	fi
}

# Hand the machine to systemd (does not return).  The channel is closed
# here; the test unit opens ttyS1 again.
switch_to_systemd() {
	say "switching to systemd at $(uptime_s)s"
	exec 9>&-
	umount $DEBUGFS
	umount /tmp
	for m in /dev /proc /sys; do
		mount -o move $m /newroot$m
	done
	exec switch_root /newroot /lib/systemd/systemd
}

# ---------------------------------------------------------------- main

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null # may be mounted already
# Without a /dev/console in the initramfs the kernel gave us no stdio.
[ -t 1 ] || exec </dev/console >/dev/console 2>&1
mount -t debugfs debugfs $DEBUGFS
mount -t tmpfs tmpfs /tmp

# shellcheck disable=SC2013 # the words of one line
for word in $(cat /proc/cmdline); do
	case $word in
	gmvm.suite=*) SUITE=${word#*=} ;;
	gmvm.kernel=*) KERNEL=${word#*=} ;;
	gmvm.test_timeout=*) TEST_TIMEOUT=${word#*=} ;;
	gmvm.repo=*) REPO=${word#*=} ;;
	gmvm.build=*) BUILD=${word#*=} ;;
	gmvm.9p_cache=*) CACHE_9P=${word#*=} ;;
	gmvm.only=*) ONLY=${word#*=} ;;
	gmvm.tests=*) TESTS=${word#*=} ;;
	esac
done

# The channel: ttyS1 in raw mode (no \r added), else the console.
# (A failed "exec" redirection would end PID 1: try it in a subshell first.)
if [ -c /dev/ttyS1 ] && (: >/dev/ttyS1) 2>/dev/null; then
	exec 9>/dev/ttyS1
	stty -F /dev/ttyS1 raw -echo
else
	exec 9>/dev/console
fi

TAINT0=$(cat /proc/sys/kernel/tainted)
echo
say "suite $SUITE, kernel $(uname -r), booted in $(uptime_s)s"
record "HELLO $SUITE $(uptime_s)"
kmemleak_reset
log_mark tests

case $SUITE in
kmod) suite_kmod ;;
bench) suite_bench ;;
demo) suite_demo ;;
daemon) suite_daemon ;;
demo-daemon) suite_daemon --demo ;;
systemd) prepare_root && switch_to_systemd ;;
probe) ;; # run.sh checking that the VM boots at all
*) result FAIL "vm: suite" "unknown suite '$SUITE'" ;;
esac

say "$NPASS passed, $NFAIL failed, $NSKIP skipped in $(uptime_s)s"
record "END $NPASS $NFAIL $NSKIP $(uptime_s)"
# Closing the channel waits until the UART has sent it all; give the
# console a moment too, as reboot -f does not wait for it.
exec 9>&-
sleep 0.3
# QEMU runs with -no-reboot: a reboot ends it, also on a kernel that cannot
# power off (no ACPI power-off: poweroff -f would only halt it).
reboot -f
