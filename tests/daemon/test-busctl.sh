#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# gpumuxd through busctl (systemd's own client): properties, attach (the
# reply carries the lease fd; busctl closes it when it exits, so the tenant
# is gone right after), list, introspect, errors by name.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${GPUMUX_REPO:-$(cd "$HERE/../.." && pwd)}
GPUMUXD=${GPUMUXD:-$REPO/build/daemon/gpumuxd}
TMP=/tmp/test-busctl
ADDR=$DBUS_SYSTEM_BUS_ADDRESS
N=org.gpumux.Scheduler1
P=/org/gpumux/Scheduler1
M=$N.Manager
FAILED=0

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1: $2"
	FAILED=1
}
bc() { busctl --address="$ADDR" "$@"; }

mkdir -p "$TMP"
cat >"$TMP/gpumuxd.conf" <<EOF
[daemon]
drm = no
rebalance_delay_ms = 0
[gpu.virtual0]
cus = 64
vram = 16G
EOF
"$GPUMUXD" --config "$TMP/gpumuxd.conf" --state-dir "$TMP/state" \
	>"$TMP/log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	bc status "$N" >/dev/null 2>&1 && break
	sleep 0.1
done
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT

out=$(bc get-property "$N" "$P" "$M" Policy 2>&1)
[[ $out == 's "fairshare"' ]] && pass "busctl get-property Policy" ||
	fail "busctl get-property Policy" "$out"

out=$(bc call "$N" "$P" "$M" Attach 'a{sv}' 2 name s bc-1 weight u 7 2>&1)
if [[ $out =~ ^oh\ \"$P/tenant/([0-9]+)\"\ [0-9]+$ ]]; then
	pass "busctl Attach returns (o tenant, h lease)"
	tid=${BASH_REMATCH[1]}
else
	fail "busctl Attach returns (o tenant, h lease)" "$out"
	tid=0
fi
# busctl exited: its copy of the lease is closed, the tenant ends.
gone=
for _ in $(seq 50); do
	if ! bc call "$N" "$P" "$M" ListTenants 2>&1 | grep -q "bc-1"; then
		gone=1
		break
	fi
	sleep 0.1
done
[[ -n $gone ]] && pass "the lease closed with busctl: tenant $tid gone" ||
	fail "the lease closed with busctl" "tenant $tid still listed"

out=$(bc call "$N" "$P" "$M" ListGPUs 2>&1)
[[ $out == 'a(uosuut) 1 '*'"virtual:virtual0" 64 '* ]] &&
	pass "busctl ListGPUs" || fail "busctl ListGPUs" "$out"

out=$(bc introspect "$N" "$P" "$M" 2>&1)
for m in .Attach .Detach .ListGPUs .ListTenants .SetWeight .SetLimits \
	.SetPartition .Fence .ReportLoad .PartitionChanged .TenantGone \
	.TenantAttached .NTenants; do
	grep -q "^\\$m " <<<"$out" || fail "busctl introspect lists $m" "missing"
done
pass "busctl introspect lists the members"

out=$(bc call "$N" "$P" "$M" Attach 'a{sv}' 1 weight u 0 2>&1)
[[ $out == *"weight 0 is not 1..65535"* ]] &&
	pass "busctl: weight 0 refused with a message" ||
	fail "busctl: weight 0 refused" "$out"
out=$(bc call "$N" "$P" "$M" Detach o "$P/tenant/4242" 2>&1)
[[ $out == *"No tenant"* ]] && pass "busctl: Detach of a missing tenant" ||
	fail "busctl: Detach of a missing tenant" "$out"
out=$(bc call "$N" "$P" "$M" Attach s hello 2>&1)
[[ $out == *"nvalid"* ]] && pass "busctl: wrong signature refused" ||
	fail "busctl: wrong signature refused" "$out"

kill -TERM $PID
wait $PID
rc=$?
trap - EXIT
[[ $rc == 0 ]] && pass "gpumuxd exits 0 on SIGTERM" ||
	fail "gpumuxd exits 0 on SIGTERM" "exit $rc; $(tail -n 5 "$TMP/log")"
exit $FAILED
