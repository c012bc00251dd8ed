#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the gpumux test VM (busybox ash, PID 1).  Put in the initramfs by
# tests/vm/run.sh, which also documents the layout:
#
#   /lib/gmvm/gpumux.ko         the module under test
#   /lib/gmvm/deps/NN-name.ko   modules it depends on, loaded in NN order
#   /bin/test-*                 test programs       (suite kmod)
#   /bin/kmod-bench*            benchmark programs  (suite bench)
#   /bin/demo-kmod              the demo            (suite demo)
#
# What to do comes from the kernel command line:
#   gmvm.suite=kmod|bench|demo|probe   gmvm.kernel=debian|debug
#   gmvm.test_timeout=SECONDS          (per test program, suite kmod)
#
# Output goes two ways.  The console (ttyS0) is for people: everything that
# happens, interleaved with kernel messages.  The channel (ttyS1, a file on
# the host) is for run.sh: one record per line, never mixed with kernel
# messages:
#
#   GMVM:HELLO <suite> <uptime>          the suite starts
#   GMVM:R PASS: name                    one sub-test result (also FAIL:, SKIP:)
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
MODULE=/lib/gmvm/gpumux.ko
DEBUGFS=/sys/kernel/debug
COUNTERS=$DEBUGFS/gpumux/counters
KMEMLEAK=$DEBUGFS/kmemleak
# Counters that must be back to 0 once every program has exited.
LEAK_COUNTERS="tenants buffers pages pinned_bytes grants pending_cmds"
# Kernel log lines that mean a kernel bug (extended regexp).
BAD_LOG='WARNING:|BUG:|Oops|refcount_t|list_(add|del) corruption'
BAD_LOG="$BAD_LOG|sleeping function called from invalid context"
BAD_LOG="$BAD_LOG|general protection|UBSAN|KASAN|possible circular locking"
BAD_LOG="$BAD_LOG|inconsistent lock state|possible recursive locking"
BAD_LOG="$BAD_LOG|suspicious RCU usage|unreferenced object"
BAD_LOG="$BAD_LOG|suspected memory leak|blocked for more than|Kernel panic"
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

# Count one result line ("PASS: ...", "FAIL: ...", "SKIP: ...") and send it
# to the host.  Lines the programs printed are already on the console.
count() {
	case $1 in
	"PASS: "*) NPASS=$((NPASS + 1)) ;;
	"FAIL: "*) NFAIL=$((NFAIL + 1)) ;;
	"SKIP: "*) NSKIP=$((NSKIP + 1)) ;;
	*) return ;;
	esac
	record "R $1"
}

# result PASS|FAIL|SKIP NAME [WHY]: a result of the rig's own; printed and
# counted.
result() {
	line="$1: $2${3:+: $3}"
	echo "$line"
	count "$line"
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
	say "kernel log after mark '$1' (from the first bad line, 80 lines):"
	first=$(grep -nE "$BAD_LOG" "/tmp/log.$1" | head -n 1 | cut -d: -f1)
	tail -n +"$first" "/tmp/log.$1" | head -n 80
	say "--- end of kernel log excerpt"
	result FAIL "$2" "$(wc -l <"/tmp/hits.$1") bad line(s), first: $(head -n 1 "/tmp/hits.$1")"
}

# The kernel's taint flags that came up since $TAINT0 and are in BAD_TAINT.
new_taint() {
	echo $((($(cat /proc/sys/kernel/tainted) & ~TAINT0) & BAD_TAINT))
}

# Load the dependencies, then the module.  Sub-test "vm: insmod gpumux.ko".
load_module() {
	for dep in /lib/gmvm/deps/*.ko; do
		[ -e "$dep" ] || continue
		if ! out=$(insmod "$dep" 2>&1); then
			result FAIL "vm: insmod gpumux.ko" "dependency ${dep##*/}: $out"
			return 1
		fi
	done
	if ! out=$(insmod "$MODULE" 2>&1); then
		result FAIL "vm: insmod gpumux.ko" "$out"
		dmesg | tail -n 20
		return 1
	fi
	result PASS "vm: insmod gpumux.ko"
}

# rmmod with retries: io_uring tears its rings down in a workqueue, so a
# program that just exited may still hold the module for a moment.
unload_module() {
	tries=0
	while ! out=$(rmmod gpumux 2>&1); do
		tries=$((tries + 1))
		if [ $tries -ge 15 ]; then
			result FAIL "vm: rmmod gpumux" "$out"
			return 1
		fi
		sleep 1
	done
	result PASS "vm: rmmod gpumux"
}

# run_test PROG: run one test program with a time limit and count its
# results.  A program that fails without saying why, dies of a signal or
# runs out of time is one more failure, named after it.
run_test() {
	name=${1##*/}
	say "=== $name (limit ${TEST_TIMEOUT}s)"
	start=$(now_s)
	# The braces keep the exit status: a pipeline reports tee's.
	{
		timeout -s KILL "$TEST_TIMEOUT" "$1" 9>&- 8>&- 2>&1
		echo $? >"/tmp/rc.$name"
	} | tee "/tmp/out.$name"
	rc=$(cat "/tmp/rc.$name")
	took=$(($(now_s) - start))
	nres=0
	nfail=0
	while IFS= read -r line; do
		case $line in
		"FAIL: "*) nfail=$((nfail + 1)) ;;
		"PASS: "* | "SKIP: "*) ;;
		*) continue ;;
		esac
		nres=$((nres + 1))
		count "$line"
	done <"/tmp/out.$name"
	if [ "$rc" -gt 128 ]; then
		if [ "$took" -ge "$TEST_TIMEOUT" ]; then
			result FAIL "$name" "timed out after ${TEST_TIMEOUT}s"
		else
			result FAIL "$name" "killed by signal $((rc - 128))"
		fi
	elif [ "$rc" -eq 77 ]; then
		[ $nres -gt 0 ] || result SKIP "$name" "program skipped (exit 77)"
	elif [ "$rc" -ne 0 ]; then
		[ $nfail -gt 0 ] || result FAIL "$name" "exit status $rc without a FAIL line"
	elif [ $nres -eq 0 ]; then
		result PASS "$name"
	fi
	say "=== $name: exit $rc after ${took}s"
}

# Sub-test: rmmod must be refused while /dev/gpumux is held open (the
# control fd pins the module through its file_operations' owner).  A
# background shell holds it; the open is not done in this shell because a
# failed "exec" redirection would end PID 1.
check_rmmod_busy() {
	name="vm: rmmod refused while /dev/gpumux is open"
	(exec 8<>/dev/gpumux && exec sleep 600) 2>/dev/null 9>&- &
	holder=$!
	sleep 1
	if ! kill -0 $holder 2>/dev/null; then
		result SKIP "$name" "cannot open /dev/gpumux"
		return
	fi
	if rmmod gpumux 2>/dev/null; then
		result FAIL "$name" "rmmod succeeded"
		# Put it back so the checks that follow still find it.
		insmod "$MODULE" || say "reloading the module failed"
	else
		result PASS "$name"
	fi
	kill $holder
	wait $holder 2>/dev/null
}

# Sub-tests: each leak counter is 0.  Retried for a few seconds, as teardown
# can lag behind the programs' exit (see unload_module).
check_counters() {
	if [ ! -r "$COUNTERS" ]; then
		result FAIL "vm: counters" "$COUNTERS missing (debugfs or module broken)"
		return
	fi
	tries=0
	while :; do
		bad=
		for c in $LEAK_COUNTERS; do
			v=$(awk -v n="$c" '$1 == n { print $2 }' "$COUNTERS")
			[ "$v" = 0 ] || bad="$bad $c"
		done
		tries=$((tries + 1))
		if [ -z "$bad" ] || [ $tries -ge 10 ]; then
			break
		fi
		sleep 1
	done
	say "counters:"
	cat "$COUNTERS"
	for c in $LEAK_COUNTERS; do
		v=$(awk -v n="$c" '$1 == n { print $2 }' "$COUNTERS")
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
kmemleak_reset() {
	[ -w "$KMEMLEAK" ] || return 0
	echo scan >"$KMEMLEAK"
	echo clear >"$KMEMLEAK"
}

# Sub-test: no leak reported since kmemleak_reset.  kmemleak only reports
# objects older than 5 s, hence the second scan.
check_kmemleak() {
	if [ ! -w "$KMEMLEAK" ]; then
		result FAIL "vm: kmemleak" "$KMEMLEAK missing in the debug kernel"
		return
	fi
	echo scan >"$KMEMLEAK"
	sleep 6
	echo scan >"$KMEMLEAK"
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

suite_bench() {
	load_module || return
	mkdir -p /tmp/bench
	for b in /bin/kmod-bench*; do
		[ -x "$b" ] || continue
		name=${b##*/}
		say "=== $name /tmp/bench/$name.csv"
		if "$b" "/tmp/bench/$name.csv" 9>&-; then
			result PASS "$name"
		else
			result FAIL "$name" "exit status $?"
		fi
		[ ! -f "/tmp/bench/$name.csv" ] || send_file "$name.csv" "/tmp/bench/$name.csv"
	done
	finish_module
}

suite_demo() {
	load_module || return
	if [ -x /bin/demo-kmod ]; then
		say "=== demo-kmod"
		if /bin/demo-kmod 9>&-; then
			result PASS demo-kmod
		else
			result FAIL demo-kmod "exit status $?"
		fi
	else
		result SKIP demo-kmod "no /bin/demo-kmod in the initramfs"
	fi
	say "=== $DEBUGFS/gpumux/state"
	cat "$DEBUGFS/gpumux/state" || result FAIL "vm: gpumux state" "cannot read it"
	finish_module
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
say "suite $SUITE, kernel $(uname -r), booted in $(uptime_s)s"
record "HELLO $SUITE $(uptime_s)"
kmemleak_reset
log_mark tests

case $SUITE in
kmod) suite_kmod ;;
bench) suite_bench ;;
demo) suite_demo ;;
probe) ;; # run.sh checking that the VM boots at all
*) result FAIL "vm: suite" "unknown suite '$SUITE'" ;;
esac

say "$NPASS passed, $NFAIL failed, $NSKIP skipped in $(uptime_s)s"
record "END $NPASS $NFAIL $NSKIP $(uptime_s)"
# Closing the channel waits until the UART has sent it all; give the
# console a moment too, as poweroff -f does not wait for it.
exec 9>&-
sleep 0.3
poweroff -f
