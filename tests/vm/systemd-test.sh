#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The systemd boot test (make vm-systemd-check; tests/vm/run.sh --suite
# systemd), run in the guest by gpumux-vmtest.service once a Debian system
# with systemd as PID 1 is up, with our `make install` copied over it.
# It checks that:
#   - the boot finished and no unit failed; gpumux.ko was loaded at boot
#     by systemd-modules-load (modules-load.d), and udev gave /dev/gpumux
#     root 0600;
#   - `systemctl start gpumuxd` brings the service to active (Type=notify:
#     systemctl returns once it sent READY=1);
#   - `busctl call ... Attach` attaches (the reply carries an fd), and an
#     independent client (python3-dbus) holds a lease;
#   - polkit decides the admin methods: with a rule that allows "nobody"
#     (uid 65534), its SetWeight succeeds; "daemon" (uid 1) gets
#     AccessDenied;
#   - `systemctl restart gpumuxd` keeps the held lease (adoption);
#   - `systemctl stop gpumuxd` is clean (exit status 0, result success, not
#     failed); the module's leak counters are 0 once the lease is closed;
#     `modprobe -r gpumux` works; the kernel log has no bug report.
# Results go to the console and, as GMVM records, to ttyS1 (see
# tests/vm/guest-init.sh); then the machine reboots (QEMU -no-reboot
# exits).

set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

NAME=org.gpumux.Scheduler1
OBJ=/org/gpumux/Scheduler1
MGR=$NAME.Manager
COUNTERS=/sys/kernel/debug/gpumux/counters
BAD_LOG='WARNING:|BUG:|kernel BUG at|BUG [^ ]+ \(|Oops|invalid opcode'
BAD_LOG="$BAD_LOG|general protection|Unable to handle|Kernel panic"
BAD_LOG="$BAD_LOG|refcount_t|list_(add|del) corruption|UBSAN|KASAN"
BAD_LOG="$BAD_LOG|sleeping function called from invalid context"
BAD_LOG="$BAD_LOG|possible circular locking|inconsistent lock state"
BAD_LOG="$BAD_LOG|possible recursive locking|suspicious RCU usage"
BAD_LOG="$BAD_LOG|blocked for more than|detected stall"
TMP=$(mktemp -d)
NPASS=0 NFAIL=0 NSKIP=0

# The channel: ttyS1, raw.
if [[ -c /dev/ttyS1 ]] && exec 9>/dev/ttyS1; then
	stty -F /dev/ttyS1 raw -echo
else
	exec 9>/dev/console
fi

uptime_s() { cut -d' ' -f1 /proc/uptime; }
record() { echo "GMVM:$*" >&9; }
note() {
	echo "NOTE: $*"
	record "NOTE $*"
}

# result PASS|FAIL|SKIP NAME [WHY]
result() {
	local line="$1: systemd: $2${3:+: $3}"
	echo "$line"
	record "R $line"
	case $1 in
	PASS) NPASS=$((NPASS + 1)) ;;
	FAIL) NFAIL=$((NFAIL + 1)) ;;
	SKIP) NSKIP=$((NSKIP + 1)) ;;
	esac
}

# check NAME CMD...: PASS when CMD exits 0, else FAIL with its output.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc == 0 ]]; then
		result PASS "$name"
	else
		result FAIL "$name" "$(echo "$out" | tr '\n' ' ' | cut -c1-300)(exit status $rc)"
		return 1
	fi
}

# Seconds since $1 (an $EPOCHREALTIME value), two decimals.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

attach_busctl() {
	busctl call $NAME $OBJ $MGR Attach 'a{sv}' 1 name s demo
}

# A tenant held by python3-dbus: prints its object path, then holds the
# lease until its stdin closes.
HOLDER='
import sys, dbus
bus = dbus.SystemBus()
mgr = dbus.Interface(bus.get_object("org.gpumux.Scheduler1",
    "/org/gpumux/Scheduler1"), "org.gpumux.Scheduler1.Manager")
tenant, lease = mgr.Attach({"name": "holder"})
fd = lease.take()
print(tenant, fd, flush=True)
sys.stdin.read()
'

tenant_names() {
	busctl --json=short call $NAME $OBJ $MGR ListTenants |
		/usr/bin/python3 -c 'import json, sys
print(" ".join(t[2] for t in json.load(sys.stdin)["data"][0]))'
}

# set_weight_as UID TENANT: SetWeight by UID with python3-dbus; prints OK
# or the D-Bus error's name.
set_weight_as() {
	setpriv --reuid="$1" --regid="$1" --clear-groups -- /usr/bin/python3 -c '
import sys, dbus
mgr = dbus.Interface(dbus.SystemBus().get_object("org.gpumux.Scheduler1",
    "/org/gpumux/Scheduler1"), "org.gpumux.Scheduler1.Manager")
try:
    mgr.SetWeight(dbus.ObjectPath(sys.argv[1]), dbus.UInt32(200))
    print("OK")
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name())
' "$2"
}

end() {
	note "systemd test: $NPASS passed, $NFAIL failed, $NSKIP skipped by $(uptime_s)s of uptime"
	record "END $NPASS $NFAIL $NSKIP $(uptime_s)"
	exec 9>&-
	sleep 0.3
	systemctl --force --force reboot
	exit 0
}

echo "=== gpumux systemd test at $(uptime_s)s"

# ---- the boot
state=$(timeout 120 systemctl is-system-running --wait 2>&1)
note "systemd: $(systemd-analyze time 2>&1 | head -n 1)"
if [[ $state == running ]]; then
	result PASS "the system is up, no unit failed"
else
	result FAIL "the system is up, no unit failed" \
		"$state: $(systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')"
	systemctl --failed --no-pager
fi

# ---- the module, loaded by modules-load.d
if [[ -d /sys/module/gpumux ]]; then
	result PASS "gpumux.ko is loaded"
else
	result FAIL "gpumux.ko is loaded"
fi
# (It may run before journald: its messages then reach the journal
# through the kernel log, under its name but not its unit.)
if journalctl -b -o cat -t systemd-modules-load |
	grep -q "Inserted module 'gpumux'"; then
	result PASS "systemd-modules-load loaded it (modules-load.d)"
else
	result FAIL "systemd-modules-load loaded it (modules-load.d)"
	journalctl -b --no-pager | grep -E 'modules-load|gpumux' | head -n 20
fi
perm=$(stat -c '%U:%G %a' /dev/gpumux 2>&1)
if [[ $perm == "root:root 600" ]]; then
	result PASS "/dev/gpumux is root:root 0600"
else
	result FAIL "/dev/gpumux is root:root 0600" "$perm"
fi

# ---- start
t0=$EPOCHREALTIME
if check "systemctl start gpumuxd" systemctl start gpumuxd; then
	note "systemctl start gpumuxd: $(since "$t0") s"
fi
st=
for p in Type ActiveState SubState; do
	st+="$(systemctl show -p $p --value gpumuxd) "
done
if [[ $st == "notify active running " ]]; then
	result PASS "gpumuxd is active (Type=notify)"
else
	result FAIL "gpumuxd is active (Type=notify)" "Type ActiveState SubState: $st"
	journalctl -b -u gpumuxd --no-pager | tail -n 30
	end
fi

# ---- attach
out=$(attach_busctl 2>&1)
if [[ $out =~ ^oh\ \"$OBJ/tenant/[0-9]+\"\ [0-9]+$ ]]; then
	result PASS "busctl Attach: a tenant and an fd ($out)"
else
	result FAIL "busctl Attach: a tenant and an fd" "$out"
fi

mkfifo "$TMP/hold"
/usr/bin/python3 -c "$HOLDER" <"$TMP/hold" >"$TMP/holder.out" 2>&1 &
holder=$!
exec 7>"$TMP/hold"
for _ in $(seq 100); do
	[[ -s $TMP/holder.out ]] || ! kill -0 $holder 2>/dev/null || { sleep 0.1; continue; }
	break
done
read -r tenant fd <"$TMP/holder.out"
if [[ $tenant == $OBJ/tenant/* && $fd =~ ^[0-9]+$ ]]; then
	result PASS "python3-dbus Attach holds a lease ($tenant)"
else
	result FAIL "python3-dbus Attach holds a lease" "$(cat "$TMP/holder.out")"
	tenant=
fi

# ---- polkit
if [[ -n $tenant ]]; then
	if busctl status org.freedesktop.PolicyKit1 >/dev/null 2>&1 ||
		busctl call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
			org.freedesktop.DBus.Peer Ping >/dev/null 2>&1; then
		result PASS "polkitd is on the bus"
	else
		result FAIL "polkitd is on the bus"
	fi
	out=$(set_weight_as 65534 "$tenant" 2>&1)
	if [[ $out == OK ]]; then
		result PASS "polkit allows SetWeight to nobody (a rule says so)"
	else
		result FAIL "polkit allows SetWeight to nobody (a rule says so)" "$out"
		# Whether polkit itself says yes (then the daemon misread it).
		setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c \
			'pkcheck --action-id org.gpumux.Scheduler1.manage --process $$ &&
			echo "(pkcheck: polkit authorizes nobody)"'
	fi
	out=$(set_weight_as 1 "$tenant" 2>&1)
	if [[ $out == "$NAME.Error.AccessDenied" ]]; then
		result PASS "polkit refuses SetWeight to daemon (uid 1): AccessDenied"
	else
		result FAIL "polkit refuses SetWeight to daemon (uid 1): AccessDenied" "$out"
	fi
	check "root may SetWeight" busctl call $NAME $OBJ $MGR SetWeight ou "$tenant" 100
fi

# ---- restart: the held lease is adopted
if [[ -n $tenant ]]; then
	check "systemctl restart gpumuxd" systemctl restart gpumuxd
	names=$(tenant_names 2>&1)
	if [[ " $names " == *" holder "* ]]; then
		result PASS "the lease survives a restart (tenants: $names)"
	else
		result FAIL "the lease survives a restart" "tenants: $names"
	fi
fi
exec 7>&-
wait $holder

# ---- stop
t0=$EPOCHREALTIME
if check "systemctl stop gpumuxd" systemctl stop gpumuxd; then
	note "systemctl stop gpumuxd: $(since "$t0") s"
fi
st=
for p in ActiveState Result ExecMainStatus; do
	st+="$(systemctl show -p $p --value gpumuxd) "
done
if [[ $st == "inactive success 0 " ]]; then
	result PASS "gpumuxd stopped cleanly (exit status 0, result success)"
else
	result FAIL "gpumuxd stopped cleanly (exit status 0, result success)" \
		"ActiveState Result ExecMainStatus: $st"
fi
if systemctl is-failed --quiet gpumuxd; then
	result FAIL "gpumuxd is not in the failed state"
else
	result PASS "gpumuxd is not in the failed state"
fi
echo "--- journal of gpumuxd"
journalctl -b -u gpumuxd --no-pager -o short-monotonic | tail -n 40

# ---- the module: no leak, unloads, nothing in the kernel log
for _ in $(seq 10); do
	bad=$(awk '$1 ~ /^(tenants|buffers|pages|pinned_bytes|grants|pending_cmds)$/ && $2 != 0' \
		"$COUNTERS" 2>&1)
	[[ -n $bad ]] || break
	sleep 1
done
if [[ ! -r $COUNTERS ]]; then
	result FAIL "the module's leak counters are 0" "no $COUNTERS"
elif [[ -n $bad ]]; then
	result FAIL "the module's leak counters are 0" "$(echo "$bad" | tr '\n' ' ')"
else
	result PASS "the module's leak counters are 0"
fi
check "modprobe -r gpumux" modprobe -r gpumux
dmesg | sed -n '/gmvm: mark tests$/,$p' >"$TMP/dmesg"
if grep -E "$BAD_LOG" "$TMP/dmesg" >"$TMP/hits"; then
	result FAIL "kernel log clean" "$(head -n 1 "$TMP/hits")"
	cat "$TMP/dmesg"
else
	result PASS "kernel log clean"
fi
end
