#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# gpumuxd through busctl (systemd's own client): properties, attach (the
# reply carries the lease fd; busctl closes it when it exits, so the tenant
# is gone right after), list, introspect, errors by name.
. "$(dirname "$0")/lib.sh"

N=$GM_NAME
P=$GM_PATH
M=$GM_MANAGER
bc() { gm_busctl "$@"; }

write_config <<EOF
[daemon]
drm = no
rebalance_delay_ms = 0
[gpu.virtual0]
cus = 64
vram = 16G
EOF
start_gpumuxd || { fail "gpumuxd starts"; finish; }

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

stop_gpumuxd
rc=$?
[[ $rc == 0 ]] && pass "gpumuxd exits 0 on SIGTERM" ||
	fail "gpumuxd exits 0 on SIGTERM" "exit $rc; $(tail -n 5 "$GPUMUXD_LOG")"
finish
