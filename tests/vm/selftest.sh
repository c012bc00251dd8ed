#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test the VM rig itself (run.sh and guest-init.sh), not gpumux: boot it with
# a stand-in module and stand-in programs (tests/vm/selftest/) whose outcomes
# are known, and check that the rig reports exactly those.
#
#   tests/vm/selftest.sh [debian|debug]     (default debian; about 2 minutes)
#
# Each case prints "PASS: selftest: NAME" or "FAIL: selftest: NAME: why";
# the last line is "N passed, N failed"; exit status 0 when all passed.
# Nothing is written outside a temporary directory, except what run.sh
# keeps under build/vm (initramfs cache, logs) and, for the daemon suite's
# stand-in tests, a temporary directory there (the guest sees the host's
# /tmp covered by its own tmpfs).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$ROOT/tests/vm/selftest
RUN=$ROOT/tests/vm/run.sh
CACHE=${CACHE:-$HOME/.cache/gpumux}
KERNEL=${1:-debian}

case $KERNEL in
debian) KDIR=$(printf '%s\n' /usr/src/linux-headers-*-amd64 | sort -V | tail -n 1) ;;
debug) KDIR=$CACHE/debug-kernel/build ;;
*)
	echo "usage: $0 [debian|debug]" >&2
	exit 2
	;;
esac
[[ -d $KDIR ]] || {
	echo "no kernel build tree $KDIR" >&2
	exit 2
}

TMP=$(mktemp -d /tmp/gmvm-selftest.XXXXXX)
mkdir -p "$ROOT/build/vm"
DTESTS=$(mktemp -d "$ROOT/build/vm/selftest-tests.XXXXXX")
trap 'rm -rf "$TMP" "$DTESTS"' EXIT

# The debug kernel adds one sub-test (kmemleak) to every suite that gets as
# far as unloading the module, and boots much more slowly: the guest that
# hangs is given time to get to its hanging program first.
EXTRA=0
HANG_LIMIT=20
if [[ $KERNEL == debug ]]; then
	EXTRA=1
	HANG_LIMIT=240
fi

PASSED=0
FAILED=0

# ------------------------------------------------------------------ build

# build_stub DIR [CFLAGS]: the stand-in gpumux.ko in DIR.
build_stub() {
	mkdir -p "$1"
	cp "$SRC/stub-gpumux.c" "$1/gpumux.c"
	printf 'obj-m := gpumux.o\nccflags-y := %s\n' "${2:-}" >"$1/Kbuild"
	make -s -C "$KDIR" M="$1" W=1 modules 2>&1 | grep -v 'Skipping BTF' || true
	[[ -f $1/gpumux.ko ]] || {
		echo "building the stub module in $1 failed" >&2
		exit 1
	}
}

# bin_dir NAME PROG...: a --bin directory holding the stand-in program
# under each name PROG.
bin_dir() {
	local dir=$TMP/bin-$1 prog
	shift
	mkdir -p "$dir"
	for prog in "$@"; do
		cp "$TMP/stub-prog" "$dir/$prog"
	done
}

echo "selftest: building the stand-ins for the $KERNEL kernel"
build_stub "$TMP/mod"
build_stub "$TMP/mod-noload" -DSTUB_FAIL_INIT
gcc -static -O2 -Wall -Wextra -Werror -o "$TMP/stub-prog" "$SRC/stub-prog.c"
bin_dir good test-stub-pass test-stub-skip kmod-bench-stub demo-kmod
bin_dir bad test-stub-pass test-stub-skip test-stub-fail test-stub-silent \
	test-stub-hang test-stub-warn test-stub-leak test-stub-crash test-stub-oops
bin_dir stall test-stub-pass test-stub-stall
bin_dir hang test-stub-hang

# ------------------------------------------------------------------ cases

# check CASE WANT_RC WANT_SUMMARY PATTERN... -- RUN_ARGS...: run run.sh with
# RUN_ARGS; the case passes when it exits WANT_RC, its last line is
# WANT_SUMMARY and its output matches every (extended) PATTERN.
check() {
	local name=$1 want_rc=$2 want_sum=$3 rc=0 last why='' pat
	local patterns=()
	shift 3
	while [[ $1 != -- ]]; do
		patterns+=("$1")
		shift
	done
	shift
	echo "selftest: === $name: run.sh $*"
	"$RUN" --kernel "$KERNEL" "$@" >"$TMP/$name.log" 2>&1 || rc=$?
	last=$(tail -n 1 "$TMP/$name.log")
	[[ $rc == "$want_rc" ]] || why="exit status $rc, want $want_rc"
	[[ -n $why || $last == "$want_sum" ]] || why="last line '$last', want '$want_sum'"
	for pat in "${patterns[@]}"; do
		[[ -n $why ]] || grep -Eq -- "$pat" "$TMP/$name.log" || why="no line matches '$pat'"
	done
	if [[ -z $why ]]; then
		PASSED=$((PASSED + 1))
		echo "PASS: selftest: $name ($(grep '^vm: timings' "$TMP/$name.log" || true))"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL: selftest: $name: $why; its output:"
		sed 's/^/    /' "$TMP/$name.log"
	fi
}

MOD=(--module "$TMP/mod/gpumux.ko")

# Everything passes; a whole program and one sub-test skip.
check kmod-good 0 "$((15 + EXTRA)) passed, 0 failed, 2 skipped" \
	'^PASS: vm: rmmod refused while /dev/gpumux is open' \
	'^SKIP: test-stub-skip: program skipped' \
	-- "${MOD[@]}" --bin "$TMP/bin-good" --suite kmod

# Each kind of failure, counted once.
check kmod-bad 1 "$((17 + EXTRA)) passed, 7 failed, 2 skipped" \
	'^vm: FAIL: stub y: wanted 1, got 2' \
	'^vm: FAIL: test-stub-silent: exit status 1 without a FAIL line' \
	'^vm: FAIL: test-stub-hang: timed out after 5s' \
	'^vm: FAIL: test-stub-crash: killed by signal 11' \
	'^vm: FAIL: test-stub-oops: killed by signal' \
	'^vm: FAIL: vm: counter tenants is 0: it is 1' \
	'^vm: FAIL: vm: kernel log clean while loaded: 3 bad line' \
	'^\[ *[0-9.]+\] WARNING: .*stub_warn_write' \
	'^\[ *[0-9.]+\] kernel BUG at .*gpumux.c' \
	-- "${MOD[@]}" --bin "$TMP/bin-bad" --suite kmod --test-timeout 5

# A program stuck in the kernel past its limit: the suite goes on.
check kmod-stall 1 "$((15 + EXTRA)) passed, 1 failed, 1 skipped" \
	'^vm: FAIL: test-stub-stall: still running' \
	-- "${MOD[@]}" --bin "$TMP/bin-stall" --suite kmod --test-timeout 5

# The module does not load: every program counts as failed.
check kmod-noload 1 "0 passed, 3 failed, 0 skipped" \
	'^vm: FAIL: vm: insmod gpumux.ko: .*No such device' \
	'^vm: FAIL: test-stub-pass: not run' \
	-- --module "$TMP/mod-noload/gpumux.ko" --bin "$TMP/bin-good" --suite kmod

# The guest hangs: the host kills it and says so.
check kmod-timeout 1 "3 passed, 1 failed, 0 skipped" \
	"^vm: FAIL: vm: the guest did not finish: killed after ${HANG_LIMIT}s" \
	-- "${MOD[@]}" --bin "$TMP/bin-hang" --suite kmod --timeout "$HANG_LIMIT"

# The CSV comes back intact.
check bench 0 "$((5 + EXTRA)) passed, 0 failed, 0 skipped" "^vm: CSV: $TMP/out/bench.csv" \
	-- "${MOD[@]}" --bin "$TMP/bin-good" --suite bench --out "$TMP/out/bench.csv"
printf 'case,ops_per_s\nnop,1000\nalloc,250\n' >"$TMP/bench.want"
if cmp -s "$TMP/bench.want" "$TMP/out/bench.csv"; then
	PASSED=$((PASSED + 1))
	echo "PASS: selftest: bench CSV content"
else
	FAILED=$((FAILED + 1))
	echo "FAIL: selftest: bench CSV content differs"
fi

# The demo runs and the state file is shown.
check demo 0 "$((5 + EXTRA)) passed, 0 failed, 0 skipped" \
	'^demo: the stub module is loaded' '^stub gpumux: no GPUs, no tenants' \
	-- "${MOD[@]}" --bin "$TMP/bin-good" --suite demo

# Suite daemon (the host's root over 9p, run-suite.sh chrooted into it;
# the Debian kernel only: the debug kernel has no 9p), with stand-in tests
# whose outcomes are known.
if [[ $KERNEL == debian ]]; then
	lib=". $ROOT/tests/daemon/lib.sh"
	printf '%s\n' "$lib" 'pass one' 'pass two' finish >"$DTESTS/test-a-pass.sh"
	printf '%s\n' "$lib" 'fail three "a reason"' finish >"$DTESTS/test-b-fail.sh"
	printf '%s\n' 'echo something went wrong' 'exit 3' >"$DTESTS/test-c-silent.sh"
	printf '%s\n' "$lib" 'skip_all "not here"' >"$DTESTS/test-d-skip.sh"
	printf '%s\n' "$lib" 'pass before the hang' 'sleep 1000' >"$DTESTS/test-e-hang.sh"
	printf '%s\n' "$lib" '(exec sleep 1000 </dev/null >/dev/null 2>&1 &)' \
		'pass left a sleep behind' finish >"$DTESTS/test-f-leftover.sh"
	printf '%s\n' 'import sys' "sys.path.insert(0, '$ROOT/tests/daemon')" \
		'import gmtest' 't = gmtest.Test()' \
		't.ok("org.freedesktop.DBus" in gmtest.bus().list_names(), "python3-dbus on the bus")' \
		't.finish()' >"$DTESTS/test-g-python.py"
	check daemon 1 "19 passed, 3 failed, 1 skipped" \
		'^PASS: vm: mount the host.s root' \
		'^vm: note: 9p: host root mounted in' '^vm: note: dbus-daemon started in' \
		'^PASS: test-a-pass: two' \
		'^vm: FAIL: test-b-fail: three: a reason' \
		'^vm: FAIL: test-c-silent.sh: exit status 3 without a FAIL line' \
		'^SKIP: test-d-skip: not here' \
		'^vm: FAIL: test-e-hang.sh: timed out after 5s' \
		'^test-f-leftover.sh left 1 process\(es\) running: killed' \
		'^PASS: test-g-python: python3-dbus on the bus' \
		'^PASS: vm: the suite left no process behind' \
		-- "${MOD[@]}" --suite daemon --tests "$DTESTS" --test-timeout 5
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
