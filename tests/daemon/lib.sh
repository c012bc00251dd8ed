# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the daemon's shell tests, tests/daemon/test-*.sh.  They run in
# the test VM (make vm-daemon-check), chrooted into the host's root, started
# by run-suite.sh, which documents the environment (GPUMUX_REPO,
# GPUMUX_BUILD, GPUMUXD, GPUMUXCTL, GPUMUX_ENGINE, GMTEST_BUS, GMTEST_TMP:
# this test's own scratch directory, also its working directory).  A test
# starts with
#
#	. "$(dirname "$0")/lib.sh"
#
# and ends with `finish`.
#
# Results (each line is "KIND: <test name>: NAME[: WHY]"):
#   pass NAME                 a passed check
#   fail NAME [WHY]           a failed check (the test goes on; finish
#                             exits 1)
#   skip NAME [WHY]           a check that could not be made
#   check NAME CMD...         run CMD: pass NAME on exit status 0, else fail
#                             NAME with CMD's first output line
#   skip_all WHY              the whole test cannot run: one SKIP, exit 77
#   finish                    exit 1 when anything failed, else 0
#
# The bus (the private bus run-suite.sh started; DBUS_SYSTEM_BUS_ADDRESS
# points at it, so gpumuxd, gpumuxctl and python3-dbus's SystemBus find it):
#   gm_busctl ARGS...         busctl --address=$GMTEST_BUS ARGS...
#   has_owner NAME            true when NAME has an owner on the bus
#   wait_name NAME [SECS [PID]]     wait (default 30 s) until NAME has an
#                             owner; gives up early when process PID dies
#   wait_no_name NAME [SECS]  wait until NAME has none
#   name_owner_pid NAME       print the pid of NAME's owner
#
# The daemon (one per test; its log is $GPUMUXD_LOG):
#   start_gpumuxd [ARGS...]   start $GPUMUXD --config $GPUMUXD_CONF
#                             --state-dir $GPUMUXD_STATE ARGS... in the
#                             background, wait until it owns
#                             org.gpumux.Scheduler1; its pid is then in
#                             $GPUMUXD_PID.  Returns 1 (log tail printed) if
#                             it dies or does not take the name in
#                             $GMTEST_START_TIMEOUT s (30).  ARGS come last,
#                             so they override the defaults.
#   write_config              write $GPUMUXD_CONF from stdin (before
#                             start_gpumuxd; else a config with every key
#                             at its default is written)
#   stop_gpumuxd [SECS]       SIGTERM, wait up to SECS (20) for it to exit:
#                             returns (and sets GPUMUXD_STATUS to) its exit
#                             status; 124 when it had to be killed
#   kill9_gpumuxd             SIGKILL and reap it (a crash); the state
#                             directory stays for the next start_gpumuxd
#   gpumuxd_alive             true while the started daemon runs
#   gm_ctl ARGS...            $GPUMUXCTL ARGS...
#   A daemon still running when the test exits is stopped (EXIT trap: a
#   test with its own EXIT trap calls gm_cleanup from it).
#
# Running as a user who is not root (uid and gid 65534, "nobody", no
# supplementary groups; capabilities are dropped with the uid change):
#   as_user CMD...            setpriv --reuid=65534 --regid=65534
#                             --clear-groups -- CMD...
#   e.g.  as_user busctl --address="$GMTEST_BUS" call org.gpumux.Scheduler1 \
#             /org/gpumux/Scheduler1 org.gpumux.Scheduler1.Manager Fence ...
#   or    as_user /usr/bin/python3 "$GPUMUX_REPO/tests/daemon/some-helper.py"
#   GMTEST_TMP is writable by it (mode 1777).

set -u

# (For the tests that source this file.)
# shellcheck disable=SC2034
GM_NAME=org.gpumux.Scheduler1
# shellcheck disable=SC2034
GM_PATH=/org/gpumux/Scheduler1
# shellcheck disable=SC2034
GM_MANAGER=$GM_NAME.Manager
GM_NOBODY=65534

GMTEST_NAME=${GMTEST_NAME:-$(basename "$0" .sh)}
GMTEST_TMP=${GMTEST_TMP:-$(mktemp -d /tmp/gmtest.XXXXXX)}
GMTEST_BUS=${GMTEST_BUS:-${DBUS_SYSTEM_BUS_ADDRESS:-unix:path=/run/gpumux-test/bus}}
export DBUS_SYSTEM_BUS_ADDRESS=$GMTEST_BUS
GPUMUX_BUILD=${GPUMUX_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
GPUMUXD=${GPUMUXD:-$GPUMUX_BUILD/daemon/gpumuxd}
GPUMUXCTL=${GPUMUXCTL:-$GPUMUX_BUILD/daemon/gpumuxctl}
GPUMUXD_CONF=${GPUMUXD_CONF:-$GMTEST_TMP/gpumuxd.conf}
GPUMUXD_STATE=${GPUMUXD_STATE:-$GMTEST_TMP/state}
GPUMUXD_LOG=${GPUMUXD_LOG:-$GMTEST_TMP/gpumuxd.log}
GPUMUXD_PID=
GPUMUXD_STATUS=
GMTEST_FAILS=0

# ---------------------------------------------------------------- results

pass() { echo "PASS: $GMTEST_NAME: $1"; }

fail() {
	echo "FAIL: $GMTEST_NAME: $1${2:+: $2}"
	GMTEST_FAILS=$((GMTEST_FAILS + 1))
}

skip() { echo "SKIP: $GMTEST_NAME: $1${2:+: $2}"; }

skip_all() {
	echo "SKIP: $GMTEST_NAME: $1"
	exit 77
}

check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -eq 0 ]]; then
		pass "$name"
	else
		fail "$name" "$(printf '%s\n' "$out" | head -n 1) (exit status $rc)"
		return 1
	fi
}

finish() {
	[[ $GMTEST_FAILS -eq 0 ]] || exit 1
	exit 0
}

# ---------------------------------------------------------------- bus

gm_busctl() { busctl --address="$GMTEST_BUS" "$@"; }

has_owner() {
	[[ $(gm_busctl call org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus NameHasOwner s "$1" 2>/dev/null) == "b true" ]]
}

wait_name() {
	local name=$1 secs=${2:-30} pid=${3:-} end
	end=$((SECONDS + secs))
	until has_owner "$name"; do
		[[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

wait_no_name() {
	local end=$((SECONDS + ${2:-30}))
	while has_owner "$1"; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

name_owner_pid() {
	gm_busctl call org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus GetConnectionUnixProcessID s "$1" | cut -d' ' -f2
}

# ---------------------------------------------------------------- daemon

write_config() { cat >"$GPUMUXD_CONF"; }

start_gpumuxd() {
	if [[ ! -x $GPUMUXD ]]; then
		echo "start_gpumuxd: no $GPUMUXD (make gpumuxd)" >&2
		return 1
	fi
	[[ -f $GPUMUXD_CONF ]] ||
		echo '# gmtest: every key at its default' >"$GPUMUXD_CONF"
	mkdir -p "$GPUMUXD_STATE"
	echo "--- $(date +%T) gpumuxd $*" >>"$GPUMUXD_LOG"
	"$GPUMUXD" --config "$GPUMUXD_CONF" --state-dir "$GPUMUXD_STATE" "$@" \
		</dev/null >>"$GPUMUXD_LOG" 2>&1 &
	GPUMUXD_PID=$!
	if ! wait_name "$GM_NAME" "${GMTEST_START_TIMEOUT:-30}" "$GPUMUXD_PID"; then
		echo "start_gpumuxd: $GM_NAME not on the bus; the log's end:"
		tail -n 20 "$GPUMUXD_LOG"
		kill -9 "$GPUMUXD_PID" 2>/dev/null
		wait "$GPUMUXD_PID" 2>/dev/null
		GPUMUXD_PID=
		return 1
	fi
}

gpumuxd_alive() { [[ -n $GPUMUXD_PID ]] && kill -0 "$GPUMUXD_PID" 2>/dev/null; }

stop_gpumuxd() {
	local end=$((SECONDS + ${1:-20}))
	[[ -n $GPUMUXD_PID ]] || return 0
	kill -TERM "$GPUMUXD_PID" 2>/dev/null
	while kill -0 "$GPUMUXD_PID" 2>/dev/null && ((SECONDS < end)); do
		# A zombie counts as gone: wait reaps it below.
		[[ $(cut -d' ' -f3 "/proc/$GPUMUXD_PID/stat" 2>/dev/null) != Z ]] || break
		sleep 0.1
	done
	if kill -0 "$GPUMUXD_PID" 2>/dev/null &&
		[[ $(cut -d' ' -f3 "/proc/$GPUMUXD_PID/stat" 2>/dev/null) != Z ]]; then
		kill -9 "$GPUMUXD_PID" 2>/dev/null
		wait "$GPUMUXD_PID" 2>/dev/null
		GPUMUXD_STATUS=124
	else
		wait "$GPUMUXD_PID"
		GPUMUXD_STATUS=$?
	fi
	GPUMUXD_PID=
	return "$GPUMUXD_STATUS"
}

kill9_gpumuxd() {
	[[ -n $GPUMUXD_PID ]] || return 0
	kill -9 "$GPUMUXD_PID" 2>/dev/null
	wait "$GPUMUXD_PID" 2>/dev/null
	GPUMUXD_PID=
}

gm_ctl() { "$GPUMUXCTL" "$@"; }

as_user() {
	setpriv --reuid=$GM_NOBODY --regid=$GM_NOBODY --clear-groups -- "$@"
}

gm_cleanup() {
	if gpumuxd_alive; then
		echo "(stopping the gpumuxd the test left running)"
		stop_gpumuxd 5
	fi
}
trap gm_cleanup EXIT

mkdir -p "$GMTEST_TMP"
