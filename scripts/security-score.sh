#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Score a service unit with `systemd-analyze security --offline=true` (no
# running systemd needed) and fail when its overall exposure is above the
# limit.  Prints the settings that still add exposure, then the score.
#
# Usage: scripts/security-score.sh [--max N] [UNIT-FILE]
#   --max N     highest exposure accepted, 0.0..10.0 (default 2.0)
#   UNIT-FILE   default: systemd/gpumuxd.service of this repository
# Exit: 0 at or below the limit, 1 above it or on any error.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
max=2.0
unit=$repo/systemd/gpumuxd.service

die() {
	echo "security-score: error: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--max)
		[ $# -ge 2 ] || die "--max needs an argument"
		max=$2
		shift 2
		;;
	-h | --help)
		sed -n '3,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option: $1" ;;
	*)
		unit=$1
		shift
		;;
	esac
done

command -v systemd-analyze >/dev/null || die "systemd-analyze not found"
[ -f "$unit" ] || die "no unit file $unit"
case $max in
'' | *[!0-9.]* | *.*.*) die "--max: not a number: $max" ;;
esac
# systemd-analyze reads a unit file only by a path with a slash in it.
case $unit in
*/*) ;;
*) unit=./$unit ;;
esac

out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) ||
	die "systemd-analyze failed: $out"

# "→ Overall exposure level for gpumuxd.service: 1.2 OK 🙂"
score=$(printf '%s\n' "$out" |
	sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*$/\1/p')
[ -n "$score" ] || die "no overall exposure in the output of systemd-analyze:
$out"

printf '%s\n' "$out" | grep '✗' || true
name=$(basename "$unit")
if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s + 0 > m + 0) }'; then
	echo "security-score: $name: exposure $score is above $max" >&2
	exit 1
fi
echo "security-score: $name: exposure $score (limit $max): ok"
