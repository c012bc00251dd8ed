#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check a tree made by `make install DESTDIR=DESTDIR` (make install-check
# runs it):
#
#  1. every file is where it belongs, with the right mode, and nothing was
#     installed under /etc;
#  2. the installed unit names the installed daemon and passes
#     `systemd-analyze verify` without a message (its Documentation= man
#     pages are looked up in the tree), and scores 2.0 or lower in
#     `systemd-analyze security --offline=true`;
#  3. the polkit action file is valid against polkit's DTD;
#  4. a private dbus-daemon loads the installed D-Bus policy and activation
#     files, and the policy works (systemd/check-dbus-policy.sh);
#  5. the DKMS tree holds the module's sources and nothing else, and (as
#     root, with dkms) dkms builds it (scripts/dkms-check.sh --src).
#
# Usage: systemd/check-install.sh DESTDIR [BUILD]
# The install directories come from the environment, as make install used
# them (PREFIX, BINDIR, SBINDIR, LIBDIR, INCLUDEDIR, MANDIR, DOCDIR,
# DBUS_POLICYDIR, DBUS_SERVICEDIR, POLKIT_ACTIONDIR, UDEVRULESDIR,
# MODULESLOADDIR, SYSTEMDSYSTEMUNITDIR, DKMS_TREE).
set -eu
set -o pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || {
	echo "usage: $0 DESTDIR [BUILD]" >&2
	exit 2
}
dest=$(cd "$1" && pwd)
build=${2:-$repo/build}

for v in BINDIR SBINDIR LIBDIR INCLUDEDIR MANDIR DOCDIR DBUS_POLICYDIR \
	DBUS_SERVICEDIR POLKIT_ACTIONDIR UDEVRULESDIR MODULESLOADDIR \
	SYSTEMDSYSTEMUNITDIR DKMS_TREE; do
	[ -n "${!v:-}" ] || {
		echo "check-install: $v is not set" >&2
		exit 2
	}
done

failed=0
log() { echo "check-install: $*" >&2; }
bad() {
	log "FAIL: $*"
	failed=1
}

# --- 1. the files -----------------------------------------------------

# want MODE PATH: a regular file (or a link to one) with that mode.
want() {
	local mode=$1 path=$dest$2 m
	if [ ! -f "$path" ]; then
		bad "missing $2"
		return
	fi
	m=$(stat -L -c %a "$path")
	[ "$m" = "$mode" ] || bad "$2: mode $m, expected $mode"
}
# want_link PATH TARGET
want_link() {
	local t
	if [ ! -L "$dest$1" ]; then
		bad "$1 is not a symbolic link"
		return
	fi
	t=$(readlink "$dest$1")
	[ "$t" = "$2" ] || bad "$1 -> $t, expected $2"
	[ -e "$dest$1" ] || bad "$1 -> $t dangles"
}

want 755 "$SBINDIR/gpumuxd"
want 755 "$BINDIR/gpumuxctl"

want 644 "$SYSTEMDSYSTEMUNITDIR/gpumuxd.service"
want 644 "$DBUS_POLICYDIR/org.gpumux.Scheduler1.conf"
want 644 "$DBUS_SERVICEDIR/org.gpumux.Scheduler1.service"
want 644 "$POLKIT_ACTIONDIR/org.gpumux.Scheduler1.policy"
want 644 "$UDEVRULESDIR/60-gpumux.rules"
want 644 "$MODULESLOADDIR/gpumux.conf"
want 644 "$DOCDIR/gpumuxd.conf.example"

for p in "$repo"/man/*.[1-8]; do
	n=${p##*/}
	want 644 "$MANDIR/man${n##*.}/$n"
done

# The library (install-libgpumux): the real file, the soname and the
# development links, the header and the pkg-config file.
want 644 "$INCLUDEDIR/gpumux/client.h"
want 644 "$LIBDIR/pkgconfig/gpumux.pc"
real=$(find "$dest$LIBDIR" -maxdepth 1 -type f -name 'libgpumux.so.*.*.*' \
	-printf '%f\n' 2>/dev/null | head -n 1)
if [ -z "$real" ]; then
	bad "no $LIBDIR/libgpumux.so.X.Y.Z"
else
	want 755 "$LIBDIR/$real"
	soname=$(objdump -p "$dest$LIBDIR/$real" |
		sed -n 's/^ *SONAME *\(.*\)$/\1/p')
	[ -n "$soname" ] || bad "$LIBDIR/$real has no SONAME"
	[ -z "$soname" ] || want_link "$LIBDIR/$soname" "$real"
	[ -z "$soname" ] || want_link "$LIBDIR/libgpumux.so" "$soname"
fi

# A missing /etc/gpumux/gpumuxd.conf means the defaults: never install one.
[ ! -e "$dest/etc" ] || bad "something was installed under /etc: $(cd "$dest" && find etc | head -n 5 | tr '\n' ' ')"

# The modules-load.d entry loads gpumux; the udev rule is about it.
grep -qx gpumux "$dest$MODULESLOADDIR/gpumux.conf" ||
	bad "$MODULESLOADDIR/gpumux.conf does not load gpumux"
grep -q '^SUBSYSTEM=="misc", KERNEL=="gpumux", OWNER="root", GROUP="root", MODE="0600"$' \
	"$dest$UDEVRULESDIR/60-gpumux.rules" ||
	bad "60-gpumux.rules: no root-only rule for /dev/gpumux"

# --- 2. the unit ----------------------------------------------------------

unit=$dest$SYSTEMDSYSTEMUNITDIR/gpumuxd.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = "$SBINDIR/gpumuxd" ] ||
	bad "the unit runs '$exec_start', not the installed $SBINDIR/gpumuxd"
tmp=$(mktemp -d /tmp/gpumux-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart= is executable: point it at the
	# tree.  The rest of the unit is checked as installed; dependencies
	# (dbus.socket, modprobe@.service) resolve on this system.
	sed "s|^ExecStart=|ExecStart=$dest|" "$unit" >"$tmp/gpumuxd.service"
	out=$(MANPATH=$dest$MANDIR systemd-analyze verify \
		"$tmp/gpumuxd.service" 2>&1) || bad "systemd-analyze verify failed"
	if [ -n "$out" ]; then
		bad "systemd-analyze verify:"
		echo "$out" >&2
	else
		log "systemd-analyze verify: ok"
	fi
	"$repo/scripts/security-score.sh" --max 2.0 "$unit" >"$tmp/score" ||
		bad "security score of the installed unit"
	tail -n 1 "$tmp/score" >&2
else
	log "SKIP: systemd-analyze not found: unit not verified"
fi

# --- 3. polkit ------------------------------------------------------------

policy=$dest$POLKIT_ACTIONDIR/org.gpumux.Scheduler1.policy
dtd=/usr/share/polkit-1/policyconfig-1.dtd
if command -v xmllint >/dev/null && [ -f "$dtd" ]; then
	if xmllint --noout --dtdvalid "$dtd" "$policy"; then
		log "polkit action file: valid"
	else
		bad "polkit action file does not validate against $dtd"
	fi
else
	log "SKIP: xmllint or $dtd missing: polkit action file not validated"
fi
grep -q '<action id="org.gpumux.Scheduler1.manage">' "$policy" ||
	bad "no org.gpumux.Scheduler1.manage action"

# --- 4. D-Bus -------------------------------------------------------------

if "$repo/systemd/check-dbus-policy.sh" \
	"$dest$DBUS_POLICYDIR/org.gpumux.Scheduler1.conf" \
	"$dest$DBUS_SERVICEDIR/org.gpumux.Scheduler1.service"; then
	:
else
	bad "D-Bus policy or activation file"
fi

# --- 5. DKMS --------------------------------------------------------------

tree=$dest$DKMS_TREE
want 644 "$DKMS_TREE/dkms.conf"
want 644 "$DKMS_TREE/Kbuild"
# Every object Kbuild names has its source.
# shellcheck disable=SC2013 # the objects are words
for o in $(sed -n 's/^gpumux-y *:= *//p' "$tree/Kbuild"); do
	[ -f "$tree/${o%.o}.c" ] || bad "DKMS tree: no ${o%.o}.c"
done
# The sources and nothing else: the same .c/.h files as the repository.
diff <(cd "$repo" && find kmod -type f \( -name '*.c' -o -name '*.h' \) |
	sort) <(cd "$tree" && find kmod -type f | sort) >"$tmp/dkms.diff" ||
	{
		bad "DKMS tree: kmod/ differs from the sources:"
		cat "$tmp/dkms.diff" >&2
	}
[ "$(cd "$tree" && find . -maxdepth 1 -type f | sort | tr '\n' ' ')" = \
	"./Kbuild ./dkms.conf " ] || bad "DKMS tree: unexpected top-level files"
if [ "$(id -u)" -eq 0 ] && command -v dkms >/dev/null &&
	ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1; then
	if "$repo/scripts/dkms-check.sh" --src "$tree" \
		--out "$build/install-test-dkms" >"$tmp/dkms.log" 2>&1; then
		log "DKMS tree: $(grep 'ok:' "$tmp/dkms.log" | sed 's/^dkms-check: //')"
	else
		cat "$tmp/dkms.log" >&2
		bad "dkms could not build the installed DKMS tree"
	fi
else
	log "SKIP: not root, or no dkms or kernel headers: DKMS tree not built"
fi

if [ "$failed" -ne 0 ]; then
	log "FAIL: $dest"
	exit 1
fi
log "ok: $(cd "$dest" && find . -type f -o -type l | wc -l) files in $dest"
