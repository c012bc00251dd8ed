#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check that org.gpumux.Scheduler1(5) documents the whole D-Bus contract:
# every interface, method, argument, property and signal of
# daemon/org.gpumux.Scheduler1.xml and every error of daemon/bus-api.h (with
# its errno).  Names are looked for as words of the page's source.
#
# Usage: man/check-dbus-doc.sh [PAGE [XML [BUS-API-H]]]
set -eu
set -o pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
page=${1:-$repo/man/org.gpumux.Scheduler1.5}
xml=${2:-$repo/daemon/org.gpumux.Scheduler1.xml}
api=${3:-$repo/daemon/bus-api.h}

for f in "$page" "$xml" "$api"; do
	[ -f "$f" ] || {
		echo "check-dbus-doc: no $f" >&2
		exit 1
	}
done

# The page as plain words: roff escapes for '-' undone.
text=$(sed 's/\\-/-/g' "$page")
missing=0
need() { # need WHAT NAME
	if ! grep -qw -- "$2" <<<"$text"; then
		echo "check-dbus-doc: $(basename "$page") does not mention $1 $2" >&2
		missing=$((missing + 1))
	fi
}

n=0
while read -r kind name; do
	need "$kind" "$name"
	n=$((n + 1))
done < <(sed -n -e 's/.*<\(interface\|method\|property\|signal\) name="\([^"]*\)".*/\1 \2/p' \
	-e 's/.*<arg name="\([^"]*\)".*/argument \1/p' "$xml" | sort -u)

# #define GM_ERROR_X GM_ERROR_PREFIX "Reason" /* ERRNO */
while read -r reason errno; do
	need error "$reason"
	need errno "$errno"
	if ! grep -q -- "^\.BR $reason \" ($errno)\"" "$page"; then
		echo "check-dbus-doc: error $reason is not listed as ($errno)" >&2
		missing=$((missing + 1))
	fi
	n=$((n + 1))
done < <(sed -n 's/^#define GM_ERROR_[A-Z_]* GM_ERROR_PREFIX "\([A-Za-z]*\)" \/\* \([A-Z]*\) \*\/$/\1 \2/p' "$api")

# Attach and ReportLoad keys.
while read -r key; do
	need key "$key"
	n=$((n + 1))
done < <(sed -n 's/^#define GM_\(OPT\|LOAD\)_[A-Z_]* "\([a-z_]*\)".*/\2/p' "$api")

[ "$n" -gt 40 ] || {
	echo "check-dbus-doc: only $n names found: is the XML or header parsed right?" >&2
	exit 1
}
if [ "$missing" -ne 0 ]; then
	echo "check-dbus-doc: FAIL: $missing of $n names undocumented" >&2
	exit 1
fi
echo "check-dbus-doc: $(basename "$page"): all $n names of the contract documented"
