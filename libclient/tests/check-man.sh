#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every exported function has a man page in section 3 (its own, or a .so
# link to the page that documents it, whose NAME section names it), and
# every page is clean under `groff -man -ww` and `mandoc -Tlint` (when
# installed).
#
#   check-man.sh MANDIR VERSION_SCRIPT
set -eu -o pipefail

dir=$1 sym=$2
bad=0

page_of() { # the file that documents $1, following one .so link
	local f=$dir/$1.3 target
	[[ -f $f ]] || return 1
	target=$(sed -n 's/^\.so man3\/\(.*\)$/\1/p' "$f")
	if [[ -n $target ]]; then
		f=$dir/$target
		[[ -f $f ]] || return 1
	fi
	echo "$f"
}

for name in gpumux $(sed -n 's/^[[:space:]]*\(gpumux_[a-z0-9_]*\);.*/\1/p' "$sym"); do
	if ! f=$(page_of "$name"); then
		echo "check-man: no page (or a broken link) for $name" >&2
		bad=1
		continue
	fi
	# NAME: "name1, name2 \- what they do".
	if ! sed -n '/^\.SH NAME/,/^\.SH/p' "$f" | grep -qE "(^|[ ,])$name(,| )"; then
		echo "check-man: $f does not name $name in NAME" >&2
		bad=1
	fi
done

for f in "$dir"/*.3; do
	grep -q '^\.so ' "$f" && continue
	pre=
	head -n 1 "$f" | grep -q "^'\\\\\" t" && pre=-t
	out=$(groff -man $pre -ww -z "$f" 2>&1)
	if [[ -n $out ]]; then
		echo "check-man: groff -man -ww $f:" >&2
		echo "$out" >&2
		bad=1
	fi
	if command -v mandoc >/dev/null; then
		out=$(mandoc -Tlint -W warning "$f" 2>&1) || true
		if [[ -n $out ]]; then
			echo "check-man: mandoc -Tlint:" >&2
			echo "$out" >&2
			bad=1
		fi
	fi
done
[[ $bad -eq 0 ]] || exit 1
echo "PASS: libgpumux man pages: every function has one, groff -ww clean"
