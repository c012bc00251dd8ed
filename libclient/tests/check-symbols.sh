#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The shared library exports exactly the symbols of the version script,
# each at version GPUMUX_0.1, and they are exactly the functions the public
# header declares.
#
#   check-symbols.sh LIBRARY.so VERSION_SCRIPT HEADER
set -eu -o pipefail

so=$1 sym=$2 hdr=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0

# Exported: "ADDR T name@@GPUMUX_0.1"; the version node itself is "A".
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sort >"$tmp/nm"
grep -v '@@GPUMUX_0\.1$' "$tmp/nm" >"$tmp/unversioned" || true
if [[ -s $tmp/unversioned ]]; then
	echo "check-symbols: exported without version GPUMUX_0.1:" >&2
	cat "$tmp/unversioned" >&2
	bad=1
fi
sed 's/@.*//' "$tmp/nm" | sort -u >"$tmp/exported"
sed -n 's/^[[:space:]]*\(gpumux_[a-z0-9_]*\);.*/\1/p' "$sym" | sort >"$tmp/script"
grep -v '^typedef' "$hdr" |
	grep -oE '^[a-z][^(]*[^a-z0-9_(]gpumux_[a-z0-9_]+\(' |
	grep -oE 'gpumux_[a-z0-9_]+\($' | tr -d '(' | sort >"$tmp/header"

if ! diff -u "$tmp/script" "$tmp/exported" >"$tmp/d1"; then
	echo "check-symbols: $so exports other symbols than $sym lists:" >&2
	cat "$tmp/d1" >&2
	bad=1
fi
if ! diff -u "$tmp/header" "$tmp/script" >"$tmp/d2"; then
	echo "check-symbols: $hdr declares other functions than $sym lists:" >&2
	cat "$tmp/d2" >&2
	bad=1
fi
[[ $bad -eq 0 ]] || exit 1
echo "PASS: libgpumux symbols: $(wc -l <"$tmp/exported") exported at GPUMUX_0.1, as declared"
