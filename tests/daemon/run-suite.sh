#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The daemon's end-to-end suite, run INSIDE the test VM (make
# vm-daemon-check; tests/vm/run.sh --suite daemon): tests/vm/guest-init.sh
# loads gpumux.ko, mounts the host's root read-only at /host (9p), with
# tmpfs on /tmp, /run, /var/tmp, and runs this script chrooted into it, so
# the repository, build/ and the host's programs are at their usual paths.
#
#   run-suite.sh            every tests/daemon/test-*.sh and test-*.py
#   run-suite.sh --demo     tests/daemon/demo.sh (make demo), run like a test
#
# It starts a private dbus-daemon whose policy mirrors Debian's system bus
# (deny by default; systemd/org.gpumux.Scheduler1.conf from the repository
# punches the holes, or, while that file does not exist, everything is
# allowed), listening on unix:path=/run/gpumux-test/bus, and exports
# DBUS_SYSTEM_BUS_ADDRESS (and GMTEST_BUS) to it.  Each test runs with a
# time limit (GMVM_TEST_TIMEOUT, 300 s) in a cgroup of its own, so whatever
# it leaves running is killed when it ends; its output is relayed as it
# comes.  Its PASS:/FAIL:/SKIP: lines are its results; exit status 77 = it
# skipped; a failure without a FAIL line, death by a signal or the time
# limit is one more failure named after the test.  guest-init.sh counts the
# lines and sends them to the host, then checks the module's leak counters,
# the kernel log and rmmod.
#
# Environment given to the tests (guest-init.sh sets the first two):
#   GPUMUX_REPO     the repository            GPUMUX_BUILD   its build/
#   GPUMUXD         $GPUMUX_BUILD/daemon/gpumuxd
#   GPUMUXCTL       gpumuxctl (the first of $GPUMUX_BUILD/{daemon,daemon/ctl,
#                   ctl,}/gpumuxctl that exists)
#   GPUMUX_ENGINE   $GPUMUX_BUILD/engine/gpumux-engine
#   GMTEST_BUS, DBUS_SYSTEM_BUS_ADDRESS   the private bus
#   GMTEST_TMP_ROOT /tmp/gmtest: each test gets $GMTEST_TMP_ROOT/<test name>
#                   as its working directory
# Helpers: lib.sh (shell tests), gmd.py and gmlease.py (python tests).
#
# GMVM_ONLY=GLOB runs only the tests whose file name matches (run.sh
# --only, make vm-daemon-check ONLY=...); GMVM_TESTS_DIR=DIR takes the tests
# from DIR instead of tests/daemon (run.sh --tests; the rig's selftest).

set -u

if [[ ${GMVM_GUEST:-} != 1 ]]; then
	echo "run-suite.sh: runs inside the test VM only: make vm-daemon-check" >&2
	exit 2
fi

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GPUMUX_REPO=${GPUMUX_REPO:-$(cd "$DIR/../.." && pwd)}
export GPUMUX_BUILD=${GPUMUX_BUILD:-$GPUMUX_REPO/build}
export GPUMUXD=${GPUMUXD:-$GPUMUX_BUILD/daemon/gpumuxd}
if [[ -z ${GPUMUXCTL:-} ]]; then
	GPUMUXCTL=$GPUMUX_BUILD/daemon/gpumuxctl
	for f in "$GPUMUX_BUILD"/{daemon,daemon/ctl,ctl,}/gpumuxctl; do
		if [[ -x $f ]]; then
			GPUMUXCTL=$f
			break
		fi
	done
fi
export GPUMUXCTL
export GPUMUX_ENGINE=${GPUMUX_ENGINE:-$GPUMUX_BUILD/engine/gpumux-engine}
export GMTEST_TMP_ROOT=/tmp/gmtest
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
TEST_TIMEOUT=${GMVM_TEST_TIMEOUT:-300}
ONLY=${GMVM_ONLY:-}
TESTS_DIR=${GMVM_TESTS_DIR:-$DIR}

BUS_DIR=/run/gpumux-test
BUS_CONF=$BUS_DIR/bus.conf
export GMTEST_BUS=unix:path=$BUS_DIR/bus
export DBUS_SYSTEM_BUS_ADDRESS=$GMTEST_BUS
POLICY=$GPUMUX_REPO/systemd/org.gpumux.Scheduler1.conf
CGROOT=/sys/fs/cgroup
BUS_PID=

say() { echo "run-suite: $*"; }

# Seconds since $1 (an $EPOCHREALTIME value), two decimals.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# The bus configuration: the default policy of Debian's
# /usr/share/dbus-1/system.conf, then the service's own policy file.
write_bus_conf() {
	local holes
	if [[ -f $POLICY ]]; then
		holes="  <include>$POLICY</include>"
	else
		say "no $POLICY yet: the bus allows everything"
		holes='  <policy context="default">
    <allow own="*"/>
    <allow send_type="method_call"/>
  </policy>'
	fi
	cat >"$BUS_CONF" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$GMTEST_BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Containers1"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
$holes
  <include ignore_missing="yes">$DIR/fake-polkit.conf</include>
</busconfig>
EOF
}

# Start the private bus (sets BUS_PID).  Returns 1 when it does not start.
start_bus() {
	local out t0=$EPOCHREALTIME
	rm -f "$BUS_DIR/bus"
	if ! out=$(dbus-daemon --config-file="$BUS_CONF" --fork --print-pid=1 \
		</dev/null 2>"$BUS_DIR/bus.err"); then
		say "dbus-daemon failed: $(cat "$BUS_DIR/bus.err")"
		return 1
	fi
	BUS_PID=$out
	echo "NOTE: dbus-daemon started in $(since "$t0") s"
}

# shellcheck disable=SC2317 # (called by the EXIT trap)
stop_bus() {
	[[ -n $BUS_PID ]] || return 0
	kill "$BUS_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$BUS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$BUS_PID" 2>/dev/null
	BUS_PID=
}

# run_one FILE: run one test with the time limit in a cgroup of its own;
# relay its output live; count what it said.
run_one() {
	local t=$1 name cmd work out cg pid tailpid rc start took nres nfail left
	name=${t##*/}
	case $t in
	*.py) cmd=(/usr/bin/python3 -u "$t") ;;
	*) cmd=(/bin/bash "$t") ;;
	esac
	# The bus must be there for each test; a test that killed it fails.
	if ! kill -0 "$BUS_PID" 2>/dev/null; then
		echo "FAIL: run-suite: the private bus is gone (before $name)"
		start_bus || return
	fi
	work=$GMTEST_TMP_ROOT/${name%.*}
	mkdir -p "$work"
	chmod 1777 "$work" # non-root parts of the test write there too
	out=$GMTEST_TMP_ROOT/$name.out
	: >"$out"
	cg=$CGROOT/gmtest-$name
	mkdir -p "$cg" 2>/dev/null || cg=
	echo "=== $name (limit ${TEST_TIMEOUT}s)"
	start=$EPOCHREALTIME
	(
		[[ -z $cg ]] || echo "$BASHPID" >"$cg/cgroup.procs"
		cd "$work" || exit 1
		export GMTEST_TMP=$work GMTEST_NAME=${name%.*}
		exec timeout -s KILL "$TEST_TIMEOUT" "${cmd[@]}"
	) </dev/null >"$out" 2>&1 &
	pid=$!
	# The output is in a file, relayed from there: a daemon the test left
	# running holds no pipe of ours open.
	tail -s 0.2 -n +1 -f --pid="$pid" "$out" &
	tailpid=$!
	wait "$pid"
	rc=$?
	took=$(since "$start")
	wait "$tailpid"
	# Whatever the test left running goes now.
	if [[ -n $cg ]]; then
		left=$(wc -l <"$cg/cgroup.procs")
		if [[ $left -gt 0 ]]; then
			echo "$name left $left process(es) running: killed"
			echo 1 >"$cg/cgroup.kill"
			for _ in $(seq 100); do
				[[ -s $cg/cgroup.procs ]] || break
				sleep 0.1
			done
		fi
		rmdir "$cg" 2>/dev/null
	fi
	nres=$(grep -cE '^(PASS|FAIL|SKIP): ' "$out")
	nfail=$(grep -c '^FAIL: ' "$out")
	if [[ $rc -eq 137 ]] && awk -v a="$took" -v l="$TEST_TIMEOUT" 'BEGIN { exit !(a >= l) }'; then
		echo "FAIL: $name: timed out after ${TEST_TIMEOUT}s"
	elif [[ $rc -gt 128 ]]; then
		echo "FAIL: $name: killed by signal $((rc - 128))"
	elif [[ $rc -eq 77 ]]; then
		[[ $nres -gt 0 ]] || echo "SKIP: $name: skipped (exit 77)"
	elif [[ $rc -ne 0 ]]; then
		[[ $nfail -gt 0 ]] || echo "FAIL: $name: exit status $rc without a FAIL line"
	elif [[ $nres -eq 0 ]]; then
		echo "PASS: $name"
	fi
	echo "=== $name: exit $rc after ${took}s"
}

# ---------------------------------------------------------------- main

mkdir -p "$BUS_DIR" "$GMTEST_TMP_ROOT"
chmod 755 "$BUS_DIR"
chmod 1777 "$GMTEST_TMP_ROOT"
trap stop_bus EXIT
write_bus_conf
if ! start_bus; then
	echo "FAIL: run-suite: private dbus-daemon starts"
	exit 1
fi

if [[ ${1:-} == --demo ]]; then
	if [[ -f $DIR/demo.sh ]]; then
		run_one "$DIR/demo.sh"
	else
		echo "SKIP: demo-daemon: no tests/daemon/demo.sh"
	fi
	exit 0
fi

shopt -s nullglob
tests=("$TESTS_DIR"/test-*.sh "$TESTS_DIR"/test-*.py)
# --only naming a script that is not a test (bench-daemon.sh): just that.
if [[ -n $ONLY && $ONLY != test-* && -f $TESTS_DIR/$ONLY ]]; then
	tests=("$TESTS_DIR/$ONLY")
fi
[[ ${#tests[@]} -eq 0 ]] ||
	mapfile -t tests < <(printf '%s\n' "${tests[@]}" | LC_ALL=C sort)
n=0
for t in "${tests[@]}"; do
	# shellcheck disable=SC2053 # GLOB is a pattern
	[[ -z $ONLY || ${t##*/} == $ONLY ]] || continue
	run_one "$t"
	n=$((n + 1))
done
[[ $n -gt 0 ]] || echo "SKIP: run-suite: no test matches '${ONLY:-test-*}'"
exit 0
