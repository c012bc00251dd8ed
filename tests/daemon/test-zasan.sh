#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The D-Bus tests again, against gpumuxd built with ASan/UBSan
# (make gpumuxd-asan): every check must pass, and the daemon's log must hold
# no sanitizer report (LeakSanitizer runs when it exits on SIGTERM).
. "$(dirname "$0")/lib.sh"

ASAN_BIN=$GPUMUX_BUILD/daemon/gpumuxd-asan
[[ -x $ASAN_BIN ]] || skip_all "no $ASAN_BIN (make gpumuxd-asan)"
export ASAN_OPTIONS=detect_leaks=1:exitcode=66
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=67
for t in test-dbus.py test-restart.py; do
	name=${t%.py}
	rm -rf "/tmp/$name"
	GPUMUXD=$ASAN_BIN /usr/bin/python3 -u "$GPUMUX_REPO/tests/daemon/$t" 2>&1 |
		sed -E "s/^(PASS|FAIL|SKIP): /\1: asan $name: /"
	rc=${PIPESTATUS[0]}
	[[ $rc == 0 ]] || fail "asan $name" "exit status $rc"
	log=/tmp/$name/gpumuxd.log
	if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$log"; then
		fail "asan $name: no sanitizer report" \
			"$(grep -m1 -E "AddressSanitizer|LeakSanitizer|runtime error" "$log")"
		grep -A30 -E "AddressSanitizer|LeakSanitizer|runtime error" "$log" | head -60
	else
		pass "asan $name: no sanitizer report"
	fi
done
finish
