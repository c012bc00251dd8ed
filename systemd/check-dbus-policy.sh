#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the D-Bus files of gpumuxd by having a private dbus-daemon load them
# (Debian's busconfig.dtd is outdated, so DTD validation proves nothing):
#
#  1. a bus whose configuration mirrors the system bus's default policy
#     (deny own, deny method calls) and includes POLICY starts at all: any
#     error in POLICY (bad XML, an unknown element or attribute) makes
#     dbus-daemon refuse to start.  A deliberately broken copy must be
#     refused too, which shows that the check can fail;
#  2. the activation file ACTIVATION is accepted: the bus lists
#     org.gpumux.Scheduler1 as activatable;
#  3. the policy does what it says, tried as root and as nobody:
#     - root may own org.gpumux.Scheduler1, nobody may not;
#     - nobody's calls to the daemon's interfaces and the standard
#       Introspectable/Properties/Peer/ObjectManager ones reach the owner
#       (which never answers here: NoReply, not AccessDenied);
#     - nobody's calls to any other interface are refused by the bus.
#
# Usage: systemd/check-dbus-policy.sh [POLICY [ACTIVATION]]
#   defaults: systemd/org.gpumux.Scheduler1.conf and
#   systemd/org.gpumux.Scheduler1.service of this repository.
# Needs dbus-daemon and /usr/bin/python3 with python3-dbus; part 3 needs
# root (it runs the unprivileged half as nobody with setpriv).
set -eu
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
policy=${1:-$here/org.gpumux.Scheduler1.conf}
activation=${2:-$here/org.gpumux.Scheduler1.service}
name=org.gpumux.Scheduler1

log() { echo "check-dbus-policy: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[ -f "$policy" ] || die "no policy file $policy"
[ -f "$activation" ] || die "no activation file $activation"
command -v dbus-daemon >/dev/null || die "dbus-daemon not found"
/usr/bin/python3 -c 'import dbus' 2>/dev/null ||
	die "/usr/bin/python3 cannot import dbus (python3-dbus)"

tmp=$(mktemp -d /tmp/gpumux-dbus.XXXXXX)
bus_pid=""
owner_pid=""
cleanup() {
	[ -z "$owner_pid" ] || kill "$owner_pid" 2>/dev/null || true
	[ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# nobody must reach the socket.
chmod 0755 "$tmp"
mkdir "$tmp/services"
cp "$activation" "$tmp/services/$name.service"

# The system bus's default policy (/usr/share/dbus-1/system.conf), without
# its system-wide settings (user, pid file, helper, system.d).
write_config() { # $1: config file, $2: policy file to include
	cat >"$1" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$tmp/bus</listen>
  <servicedir>$tmp/services</servicedir>
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
  </policy>
  <include ignore_missing="no">$2</include>
</busconfig>
EOF
}

# 1. A broken policy must be refused (proves the check can fail) ...
sed 's/<allow own=/<allow own_bogus=/' "$policy" >"$tmp/broken.conf"
cmp -s "$policy" "$tmp/broken.conf" && die "$policy has no <allow own=...>"
write_config "$tmp/broken-bus.conf" "$tmp/broken.conf"
if dbus-daemon --config-file="$tmp/broken-bus.conf" --fork \
	--print-pid=1 >"$tmp/broken.pid" 2>"$tmp/broken.err"; then
	kill "$(cat "$tmp/broken.pid")" 2>/dev/null || true
	die "dbus-daemon accepted a broken policy: this check proves nothing"
fi
grep -q own_bogus "$tmp/broken.err" ||
	die "dbus-daemon refused the broken policy for another reason: $(cat "$tmp/broken.err")"

# ... and the real one loaded.
write_config "$tmp/bus.conf" "$(cd "$(dirname "$policy")" && pwd)/$(basename "$policy")"
if ! dbus-daemon --config-file="$tmp/bus.conf" --fork --print-pid=1 \
	>"$tmp/bus.pid" 2>"$tmp/bus.err"; then
	die "dbus-daemon refused $policy: $(cat "$tmp/bus.err")"
fi
bus_pid=$(cat "$tmp/bus.pid")
addr=unix:path=$tmp/bus
log "$policy: loaded by dbus-daemon"

# 2. The activation file.
/usr/bin/python3 - "$addr" "$name" <<'EOF'
import sys
import dbus
bus = dbus.bus.BusConnection(sys.argv[1])
names = bus.list_activatable_names()
if sys.argv[2] not in names:
    sys.exit("activation file not accepted: %s not activatable (%s)"
             % (sys.argv[2], ", ".join(names)))
EOF
log "$(basename "$activation"): $name is activatable"

# 3. What the policy allows.
if [ "$(id -u)" -ne 0 ]; then
	log "not root: skipping the ownership and call checks"
	exit 0
fi
command -v setpriv >/dev/null || die "setpriv not found"

# root owns the name and keeps it until its stdin closes; it never answers.
mkfifo "$tmp/owner.in"
cat >"$tmp/owner.py" <<'EOF'
import sys
import dbus
bus = dbus.bus.BusConnection(sys.argv[1])
r = bus.request_name(sys.argv[2], dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
print("owned" if r == dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER else r,
      flush=True)
sys.stdin.read()
EOF
/usr/bin/python3 "$tmp/owner.py" "$addr" "$name" <"$tmp/owner.in" \
	>"$tmp/owner.out" &
owner_pid=$!
exec 8>"$tmp/owner.in"
for _ in $(seq 50); do
	[ -s "$tmp/owner.out" ] && break
	sleep 0.1
done
[ "$(cat "$tmp/owner.out")" = owned ] ||
	die "root could not own $name: $(cat "$tmp/owner.out")"
log "root owns $name"

# The rest as nobody.
setpriv --reuid=65534 --regid=65534 --clear-groups \
	/usr/bin/python3 - "$addr" "$name" <<'EOF'
import sys
import dbus

addr, name = sys.argv[1], sys.argv[2]
bus = dbus.bus.BusConnection(addr)
path = "/org/gpumux/Scheduler1"
failed = []


def call(iface, method, sig="", args=()):
    try:
        bus.call_blocking(name, path, iface, method, sig, args, timeout=0.5)
        return "reply"
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()


try:
    bus.request_name(name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    failed.append("nobody may own " + name)
except dbus.exceptions.DBusException as e:
    if e.get_dbus_name() != "org.freedesktop.DBus.Error.AccessDenied":
        failed.append("owning as nobody: " + e.get_dbus_name())

allowed = [
    (name + ".Manager", "ListGPUs"),
    (name + ".Manager", "Attach"),
    (name + ".Manager", "SetWeight"),
    (name + ".GPU", "Anything"),
    (name + ".Tenant", "Anything"),
    ("org.freedesktop.DBus.Introspectable", "Introspect"),
    ("org.freedesktop.DBus.Properties", "GetAll"),
    ("org.freedesktop.DBus.Peer", "Ping"),
    ("org.freedesktop.DBus.ObjectManager", "GetManagedObjects"),
]
denied = [
    (name + ".Debug", "Crash"),
    ("org.freedesktop.systemd1.Manager", "Reboot"),
    ("org.gpumux.Scheduler2.Manager", "ListGPUs"),
]
for iface, method in allowed:
    r = call(iface, method)
    if r != "org.freedesktop.DBus.Error.NoReply":
        failed.append("%s.%s as nobody: %s, expected to reach the daemon"
                      % (iface, method, r))
for iface, method in denied:
    r = call(iface, method)
    if r != "org.freedesktop.DBus.Error.AccessDenied":
        failed.append("%s.%s as nobody: %s, expected AccessDenied"
                      % (iface, method, r))
for f in failed:
    print("check-dbus-policy: " + f, file=sys.stderr)
if failed:
    sys.exit(1)
print("check-dbus-policy: nobody: may not own the name; %d calls reach the "
      "daemon, %d refused by the bus" % (len(allowed), len(denied)),
      file=sys.stderr)
EOF
log "ok"
