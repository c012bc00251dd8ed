#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the engine test programs and the CLI checks; each prints PASS/FAIL/
# SKIP lines.  Ends with one line "N passed, N failed"; exits 1 on any
# failure (a FAIL line, or a program that crashed or exited other than
# 0/77).  Usage: run-tests.sh BINDIR CLI|"" TEST...
set -u
bindir=$1
cli=$2
shift 2
here=$(dirname "$0")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s.%N)

run() {
	local name=$1 out rc
	shift
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	cat "$out" >>"$log"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && ! grep -q '^FAIL' "$out"; then
		echo "FAIL $name: exited with status $rc" | tee -a "$log"
	fi
	rm -f "$out"
}

for t in "$@"; do
	run "$t" timeout 600 "$bindir/$t"
done
if [ -n "$cli" ]; then
	run test-cli "$here/test-cli.sh" "$cli"
fi
passed=$(grep -c '^PASS' "$log")
failed=$(grep -c '^FAIL' "$log")
skipped=$(grep -c '^SKIP' "$log")
end=$(date +%s.%N)
printf '(%d skipped, %.1f s)\n' "$skipped" "$(echo "$end - $start" | bc)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
