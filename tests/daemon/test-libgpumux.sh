#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libgpumux against the real gpumuxd and module: starts gpumuxd with one
# virtual GPU and runs build/tests/daemon/test-libgpumux (make
# libgpumux-e2e), which attaches, reads its partition, maps and writes a
# pinned buffer, reports load, follows the rebalance a second tenant causes
# (and acks it), maps a granted buffer, adopts a lease and detaches.  Its
# PASS:/FAIL:/SKIP: lines are this test's results.  Then the same program
# with the library built in, both under ASan/UBSan (test-libgpumux-asan),
# and the example client (make libgpumux-example), also as gpumuxctl attach
# starts it.
#
# Runs in the test VM (make vm-daemon-check; see run-suite.sh for the
# environment).  TEST_LIBGPUMUX overrides the program's path.

. "$(dirname "$0")/lib.sh"

PROG=${TEST_LIBGPUMUX:-$GPUMUX_BUILD/tests/daemon/test-libgpumux}

[[ -x $PROG ]] || skip_all "no $PROG (make libgpumux-e2e)"
[[ -x $GPUMUXD ]] || skip_all "no $GPUMUXD (make gpumuxd)"
[[ -c /dev/gpumux ]] || skip_all "no /dev/gpumux (the module is not loaded)"

# A generous ack deadline: the guest is emulated, and a missed deadline
# fences the tenant, which the test counts as a failure.
write_config <<'EOF'
[daemon]
policy = fairshare
ack_deadline_ms = 10000
rebalance_delay_ms = 20
default_pinned_quota = 64M
drm = no

[gpu.libgm0]
cus = 64
vram = 16G
EOF

if ! start_gpumuxd --no-drm; then
	fail "gpumuxd starts"
	finish
fi

# run NAME PROG: run one build of the program, results prefixed NAME.
failed=0
run() {
	local r
	GMTEST_NAME=$1 "$2"
	r=$?
	case $r in
	0 | 77) return ;;
	1) ;;
	*) fail "$1" "exit status $r (crashed?)" ;;
	esac
	failed=1
	echo "# gpumuxd's log, last lines:"
	tail -n 30 "$GPUMUXD_LOG" | sed 's/^/# /'
}

run "$GMTEST_NAME" "$PROG"
# The library built in and both under ASan/UBSan, when built.
if [[ -x $PROG-asan ]]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run "$GMTEST_NAME-asan" "$PROG-asan"
else
	skip "asan" "no $PROG-asan (make libgpumux-e2e)"
fi

# The example client, attaching itself and started by gpumuxctl attach
# (adopting the lease from the environment).
EXAMPLE=$GPUMUX_BUILD/libclient/gpumux-example
if [[ ! -x $EXAMPLE ]]; then
	skip "example" "no $EXAMPLE (make libgpumux-example)"
else
	out=$("$EXAMPLE" libgm-example 300 2>&1)
	r=$?
	if [[ $r -eq 0 && $out == *"buffer "*" mapped at "* &&
		$out == *"load report: sent"* && $out == *"detach: done"* ]]; then
		pass "example attaches, maps, reports load, detaches"
	else
		fail "example attaches, maps, reports load, detaches" \
			"exit status $r: $(tr '\n' '|' <<<"$out")"
	fi
	if [[ ! -x $GPUMUXCTL ]]; then
		skip "example under gpumuxctl attach" "no $GPUMUXCTL"
	else
		out=$("$GPUMUXCTL" attach --name libgm-ctl -- "$EXAMPLE" x 300 2>&1)
		r=$?
		if [[ $r -eq 0 && $out == *"adopted the lease"* &&
			$out == *"detach: done"* ]]; then
			pass "example under gpumuxctl attach adopts the lease"
		else
			fail "example under gpumuxctl attach adopts the lease" \
				"exit status $r: $(tr '\n' '|' <<<"$out")"
		fi
	fi
fi

stop_gpumuxd
if [[ $GPUMUXD_STATUS == 0 ]]; then
	pass "gpumuxd exits 0 after the test"
else
	fail "gpumuxd exits 0 after the test" "exit status $GPUMUXD_STATUS"
fi

[[ $failed -eq 0 ]] || exit 1
finish
