#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the kernel's checkpatch.pl (from Debian's linux-source-6.1, the kernel
# the module targets) over every .c and .h file under kmod/, in --strict mode,
# the level asked of new drivers in subsystems such as DRM.  Any ERROR,
# WARNING or CHECK fails the run.
#
# checkpatch.pl is only shipped inside the linux-source-6.1 package (a
# 139 MB .deb holding a .tar.xz of the tree).  The three files it needs are
# extracted once into $CACHE/checkpatch (CACHE defaults to ~/.cache/gpumux,
# as in the top-level Makefile); the .deb is fetched with `apt-get download`
# into $CACHE/debs if it is not there yet.
#
# Usage: scripts/checkpatch.sh [FILE...]
#   With no FILE, checks every *.c and *.h under kmod/.
set -eu
set -o pipefail

# Message types not reported, each with the reason.  Only types that
# cannot apply to this module belong here.  (The --file mode never asks for
# a MAINTAINERS entry (FILE_PATH_CHANGES) and --no-tree skips the checks that
# need a tree, so nothing out-of-tree specific is needed so far.)
IGNORE_TYPES=""

# Extra types not reported in tracepoint headers only (files that define
# TRACE_EVENT/DECLARE_EVENT_CLASS), written in the layout every header in
# include/trace/events/ uses, which --strict misreads:
#   OPEN_ENDED_LINE        TP_STRUCT__entry( and TP_fast_assign( end lines
#   PARENTHESIS_ALIGNMENT  TP_PROTO/TP_ARGS are indented one tab, not
#                          aligned with TRACE_EVENT(
TRACE_IGNORE_TYPES="OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT"

# Extra types not reported in kmod/compat.h only, the out-of-tree module's
# shims over kernel API changes, which must test the kernel version:
#   LINUX_VERSION_CODE     an in-tree driver has one kernel; we build for several
#   CONSTANT_COMPARISON    it takes LINUX_VERSION_CODE for a variable
COMPAT_IGNORE_TYPES="LINUX_VERSION_CODE,CONSTANT_COMPARISON"

# Where kmod/ would live in a kernel tree.  checkpatch.pl decides some rules
# by path: include/uapi/ headers may not use BIT() (userspace has no such
# macro), and a file whose own path appears in its text gets an
# EMBEDDED_FILENAME warning.  So the files are checked through a view that
# puts them where they would be upstream:
#   kmod/include/... -> include/...    the rest of kmod/ -> $TREE_DIR/...
TREE_DIR=drivers/misc/gpumux

repo=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/gpumux}
DEBS=$CACHE/debs
TOOLS=$CACHE/checkpatch
SRCPKG=linux-source-6.1

log() { echo "checkpatch: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v perl >/dev/null || die "perl not found"

# --- Fetch checkpatch.pl and its data files, once per source package version.
find_deb() {
	find "$DEBS" -maxdepth 1 -name "${SRCPKG}_*_all.deb" 2>/dev/null | sort -V | tail -n 1
}
if [ ! -f "$TOOLS/.version" ] || [ ! -x "$TOOLS/checkpatch.pl" ]; then
	mkdir -p "$DEBS"
	deb=$(find_deb)
	if [ -z "$deb" ]; then
		log "downloading $SRCPKG into $DEBS"
		# apt-get download writes into the current directory.
		if ! (cd "$DEBS" && apt-get download "$SRCPKG"); then
			log "apt-get download failed; refreshing the package lists once"
			apt-get update -q
			(cd "$DEBS" && apt-get download "$SRCPKG")
		fi
		deb=$(find_deb)
		[ -n "$deb" ] || die "apt-get download $SRCPKG left no .deb in $DEBS"
	fi
	log "extracting checkpatch.pl from $(basename "$deb")"
	tmp=$TOOLS.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# The whole .tar.xz has to be decompressed to reach three files in it
	# (about 20 s); that is why the result is cached.
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO "./usr/src/$SRCPKG.tar.xz" |
		xz -d |
		tar -x -C "$tmp" --strip-components=2 \
			"$SRCPKG/scripts/checkpatch.pl" \
			"$SRCPKG/scripts/spelling.txt" \
			"$SRCPKG/scripts/const_structs.checkpatch"
	dpkg-deb -f "$deb" Version >"$tmp/.version"
	rm -rf "$TOOLS"
	mv "$tmp" "$TOOLS"
fi

# --- The files to check.
if [ $# -gt 0 ]; then
	files=("$@")
else
	cd "$repo"
	mapfile -t files < <(find kmod -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
	[ ${#files[@]} -gt 0 ] || die "no .c or .h files under kmod/"
fi

args=(--no-tree --file --strict --show-types --color=never)

# The in-tree view of kmod/ (see TREE_DIR above).
view=$(mktemp -d)
trap 'rm -rf "$view"' EXIT
mkdir -p "$view/$(dirname "$TREE_DIR")"
ln -s "$repo/kmod" "$view/$TREE_DIR"
[ ! -d "$repo/kmod/include" ] || ln -s "$repo/kmod/include" "$view/include"

log "checkpatch.pl $(cat "$TOOLS/.version") ${args[*]}"
# checkpatch.pl finds spelling.txt and const_structs.checkpatch next to itself.
# It exits non-zero when it reports anything; the totals line decides here.
errors=0 warnings=0 checks=0 bad=0
summary=""
for f in "${files[@]}"; do
	[ -f "$f" ] || die "no such file: $f"
	abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
	case $abs in
	"$repo"/kmod/include/*)
		dir=$view rel=${abs#"$repo"/kmod/} back="s|^\(#[0-9]*: FILE: \)include/|\1kmod/include/|"
		;;
	"$repo"/kmod/*)
		dir=$view rel=$TREE_DIR/${abs#"$repo"/kmod/} back="s|^\(#[0-9]*: FILE: \)$TREE_DIR/|\1kmod/|"
		;;
	*) dir=. rel=$f back="" ;;
	esac
	ignore=$IGNORE_TYPES
	if grep -qE '^(TRACE_EVENT|DECLARE_EVENT_CLASS)\(' "$f"; then
		ignore=${ignore:+$ignore,}$TRACE_IGNORE_TYPES
	fi
	if [ "$(basename "$f")" = compat.h ]; then
		ignore=${ignore:+$ignore,}$COMPAT_IGNORE_TYPES
	fi
	out=$(cd "$dir" && perl "$TOOLS/checkpatch.pl" "${args[@]}" ${ignore:+--ignore "$ignore"} "$rel" 2>&1) || true
	[ -z "$back" ] || out=$(printf '%s\n' "$out" | sed -e "$back")
	total=$(printf '%s\n' "$out" | sed -n 's/^total: \([0-9]*\) errors, \([0-9]*\) warnings, \([0-9]*\) checks.*/\1 \2 \3/p')
	[ -n "$total" ] || {
		printf '%s\n' "$out" >&2
		die "$f: no totals line from checkpatch.pl"
	}
	read -r e w c <<<"$total"
	errors=$((errors + e))
	warnings=$((warnings + w))
	checks=$((checks + c))
	if [ $((e + w + c)) -gt 0 ]; then
		bad=$((bad + 1))
		# The per-message report, without checkpatch's own closing lines.
		printf '%s\n' "$out" | sed -e '/^total: /,$d'
	fi
	summary="$summary$(printf '  %-40s %3d errors %3d warnings %3d checks' "$f" "$e" "$w" "$c")
"
done

echo "checkpatch summary (${#files[@]} files):"
printf '%s' "$summary"
echo "  total: $errors errors, $warnings warnings, $checks checks in $bad file(s)"
if [ $((errors + warnings + checks)) -gt 0 ]; then
	exit 1
fi
echo "checkpatch: clean"
