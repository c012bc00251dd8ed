#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The rig works: the private bus answers, the module's device is there,
# python3-dbus imports and reaches the bus, a user who is not root can use
# the bus, and gpumuxd (when built) starts, takes its name and stops
# cleanly on SIGTERM.

. "$(dirname "$0")/lib.sh"

if out=$(gm_busctl call org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus ListNames 2>&1) && [[ $out == as\ * ]]; then
	pass "the private bus answers ListNames"
else
	fail "the private bus answers ListNames" "$out"
fi

if [[ -c /dev/gpumux ]]; then
	pass "/dev/gpumux is a character device"
else
	fail "/dev/gpumux is a character device" "$(ls -l /dev/gpumux 2>&1)"
fi

check "python3-dbus lists the bus's names" /usr/bin/python3 -c '
import os, dbus
bus = dbus.bus.BusConnection(os.environ["GMTEST_BUS"])
names = bus.list_names()
assert "org.freedesktop.DBus" in names, names'

check "a user who is not root reaches the bus" as_user busctl \
	--address="$GMTEST_BUS" call org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus GetId
if [[ $(as_user id -u) == "$GM_NOBODY" ]]; then
	pass "as_user runs as uid $GM_NOBODY"
else
	fail "as_user runs as uid $GM_NOBODY" "id -u says $(as_user id -u 2>&1)"
fi

if [[ ! -x $GPUMUXD ]]; then
	skip "gpumuxd starts and takes $GM_NAME" "no $GPUMUXD (make gpumuxd)"
	finish
fi
if start_gpumuxd; then
	pass "gpumuxd starts and takes $GM_NAME"
	owner=$(name_owner_pid "$GM_NAME")
	if [[ $owner == "$GPUMUXD_PID" ]]; then
		pass "$GM_NAME is owned by the gpumuxd started"
	else
		fail "$GM_NAME is owned by the gpumuxd started" "owner pid $owner, started $GPUMUXD_PID"
	fi
	stop_gpumuxd
	if [[ $GPUMUXD_STATUS == 0 ]]; then
		pass "gpumuxd exits 0 on SIGTERM"
	else
		fail "gpumuxd exits 0 on SIGTERM" "exit status $GPUMUXD_STATUS"
		tail -n 20 "$GPUMUXD_LOG"
	fi
	if wait_no_name "$GM_NAME" 5; then
		pass "$GM_NAME is released"
	else
		fail "$GM_NAME is released"
	fi
else
	fail "gpumuxd starts and takes $GM_NAME"
fi
finish
