#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Command-line checks of gpumuxctl that need no gpumuxd (make ctl-check):
# help, usage errors (exit 2) found before any bus traffic, and "not
# reachable" (exit 3) with no bus at all and with a private dbus-daemon on
# which nobody owns org.gpumux.Scheduler1.  Everything against the real
# daemon is tests/daemon/test-ctl.sh, in the VM.
#
# Usage: test-cli.sh GPUMUXCTL
# Exit status: 0 all passed, 1 a check failed.
set -u

CTL=${1:?usage: test-cli.sh GPUMUXCTL}
TMP=$(mktemp -d /tmp/gpumuxctl-cli.XXXXXX)
BUS_PID=
fails=0
# No bus unless a check sets one: the host's system bus is never used.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TMP/no-such-bus

cleanup() {
	[[ -z $BUS_PID ]] || kill "$BUS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# expect NAME STATUS PATTERN ARGS...: gpumuxctl ARGS... exits with STATUS
# and its output (stdout and stderr) matches the extended regex PATTERN.
expect() {
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$("$CTL" "$@" 2>&1)
	rc=$?
	if [[ $rc -ne $want ]]; then
		echo "FAIL: $name: exit status $rc, expected $want: $(head -n 3 <<<"$out")"
		fails=$((fails + 1))
	elif [[ -n $pat ]] && ! grep -Eq -- "$pat" <<<"$out"; then
		echo "FAIL: $name: output does not match /$pat/: $(head -n 3 <<<"$out")"
		fails=$((fails + 1))
	else
		echo "PASS: $name"
	fi
}

long=$(printf 'x%.0s' {1..32})

# Help and usage errors.
expect help 0 '^Usage: gpumuxctl' --help
expect help-short 0 'Commands:' -h
expect help-verb 0 'Usage: gpumuxctl' help
expect help-after-verb 0 'Usage: gpumuxctl' tenants --help
expect unknown-command 2 "unknown command 'frobnicate'" frobnicate
expect unknown-option 2 "unknown option '--frob'" --frob status
expect unknown-verb-option 2 "unknown option '--frob'" tenants --frob
expect missing-option-arg 2 "needs an argument" status --address
expect too-many-args 2 'too many arguments' status extra
expect missing-args 2 'Usage: gpumuxctl weight TENANT W' weight 3
expect bad-mask-order 2 "bad CU mask '5-3'" partition 1 1 5-3
expect bad-mask-range 2 "CU mask '0-1024'" partition 1 1 0-1024
expect bad-mask-word 2 "bad CU mask 'abc'" partition 1 1 abc
expect bad-mask-empty-item 2 "bad CU mask '1,,2'" partition 1 1 1,,2
expect bad-gpu 2 "GPU 'x' is not a number" partition 1 x 0-3
expect bad-weight 2 "weight 'abc' is not a number" weight 3 abc
expect weight-range 2 "out of range" weight 3 99999999999
expect bad-limits 2 "'-1': negative numbers are invalid" limits 3 0 -1
expect tenant-zero 2 "'0' is not a tenant id" detach 0
expect tenant-bad-path 2 "is not a tenant id" fence /a//b
expect tenant-long-name 2 "is not a tenant id" fence "$long"
expect attach-no-name 2 'attach needs --name' attach -- true
expect attach-no-command 2 'needs a command' attach --name x
expect attach-empty-name 2 -- '--name: 1 to 31' attach --name '' -- true
expect attach-long-name 2 -- '--name: 1 to 31' attach --name "$long" -- true
expect attach-quota-overflow 2 "too large" attach --name x --pinned-quota 16E -- true
expect attach-quota-syntax 2 "expected bytes" attach --name x --pinned-quota 1.5G -- true
expect attach-fd-low 2 -- "--fd 2: expected 3" attach --name x --fd 2 -- true
expect attach-bad-weight 2 -- "--weight 'w'" attach --name x --weight w -- true
expect attach-not-found 127 'command not found' attach --name x -- /nonexistent/cmd
expect attach-not-found-path 127 'command not found' attach --name x -- no-such-command-gm

# No bus at all: not reachable.
expect no-bus 3 'cannot connect' status
expect no-bus-address 3 'cannot connect' --address "unix:path=$TMP/nope" tenants
expect no-bus-attach 3 'cannot connect' attach --name x -- true
expect no-bus-version 0 '^gpumuxctl [0-9]' version

# A private bus where gpumuxd is not running: ServiceUnknown, exit 3.
if command -v dbus-daemon >/dev/null; then
	cat >"$TMP/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$TMP/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
	BUS_PID=$(dbus-daemon --config-file="$TMP/bus.conf" --fork \
		--print-pid=1 2>/dev/null)
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TMP/bus
	for _ in $(seq 50); do
		[[ -S $TMP/bus ]] && break
		sleep 0.1
	done
	expect no-daemon-status 3 '\(ServiceUnknown\)' status
	expect no-daemon-tenants-json 3 'ServiceUnknown' --json tenants
	expect no-daemon-gpus 3 'is gpumuxd running' gpus
	expect no-daemon-weight 3 'ServiceUnknown' weight 3 50
	expect no-daemon-by-name 3 'ServiceUnknown' detach llm0
	expect no-daemon-attach 3 'ServiceUnknown' attach --name x -- true
	expect no-daemon-watch 3 'ServiceUnknown' watch
	expect no-daemon-address 3 'ServiceUnknown' \
		--address "unix:path=$TMP/bus" status
	expect no-daemon-version 0 'gpumuxd not reachable' version
	out=$("$CTL" --json version)
	if /usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["gpumuxctl"] and d["gpumuxd"] is None' "$out"; then
		echo "PASS: version-json"
	else
		echo "FAIL: version-json: $out"
		fails=$((fails + 1))
	fi
else
	echo "SKIP: private bus: no dbus-daemon"
fi

[[ $fails -eq 0 ]]
