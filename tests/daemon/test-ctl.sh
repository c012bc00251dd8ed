#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# gpumuxctl against the real gpumuxd (in the VM, run by run-suite.sh): every
# subcommand, tables and --json (parsed by python3's json), the lease passed
# by attach (used by a tenant that acknowledges its shrinks through it, with
# gmlease.py), watch's events (human and JSON), and the exit statuses:
# 1 daemon error, 2 usage, 3 daemon not running, 4 access denied.

. "$(dirname "$0")/lib.sh"

REPO=${GPUMUX_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
CTL=$GPUMUXCTL
PY=/usr/bin/python3
T=$GMTEST_TMP
CUS=128
PIDS=()

[[ -x $CTL ]] || skip_all "no $CTL (make gpumuxctl)"
[[ -x $GPUMUXD ]] || skip_all "no $GPUMUXD (make gpumuxd)"
[[ -c /dev/gpumux ]] || skip_all "no /dev/gpumux (runs in the VM)"

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	gm_cleanup
}
trap cleanup EXIT

# ------------------------------------------------------------ helpers

# expect NAME STATUS PATTERN CMD...: CMD exits with STATUS and its output
# (stdout and stderr) matches the extended regex PATTERN (if not empty).
expect() {
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne $want ]]; then
		fail "$name" "exit status $rc, expected $want: $(head -n 3 <<<"$out")"
	elif [[ -n $pat ]] && ! grep -Eq -- "$pat" <<<"$out"; then
		fail "$name" "output does not match /$pat/: $(head -n 5 <<<"$out")"
	else
		pass "$name"
	fi
}

# py_true EXPR FILE: EXPR (python, the JSON document of FILE is d) holds.
py_true() {
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[2]))
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" "$2" 2>/dev/null
}

# jcheck NAME EXPR ARGS...: gpumuxctl --json ARGS... exits 0 and prints
# one JSON document for which EXPR holds.
jcheck() {
	local name=$1 expr=$2 f=$T/jcheck.json
	shift 2
	if ! "$CTL" --json "$@" >"$f" 2>"$T/jcheck.err"; then
		fail "$name" "gpumuxctl --json $* failed: $(head -n 2 "$T/jcheck.err")"
	elif ! "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null; then
		fail "$name" "not one JSON document: $(head -c 300 "$f")"
	elif ! py_true "$expr" "$f"; then
		fail "$name" "($expr) is false for: $(head -c 600 "$f")"
	else
		pass "$name"
	fi
}

# wait_json SECS EXPR ARGS...: until EXPR holds for gpumuxctl --json ARGS.
wait_json() {
	local secs=$1 expr=$2 f=$T/wait.json end
	shift 2
	end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		"$CTL" --json "$@" >"$f" 2>/dev/null && py_true "$expr" "$f" &&
			return 0
		sleep 0.2
	done
	return 1
}

# The tenants' partitions all settled (active == target) and every CU
# given out: the plan is applied.
SETTLED='all(t["ActiveMask"] == t["TargetMask"] for t in d)'
tenant() { echo "[t for t in d if t[\"Name\"] == \"$1\"][0]"; }

# A tenant that holds the lease gpumuxctl passed it and acknowledges every
# shrink through it; it writes "FD TENANT-PATH MODULE-TENANT-ID" to $1.
cat >"$T/acker.py" <<EOF
import os, signal, sys
sys.path.insert(0, "$REPO/tests/daemon")
import gmlease
fd = int(os.environ["GPUMUX_LEASE_FD"])
lease = gmlease.Lease(fd)
info = lease.info()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d %s %d\n" % (fd, os.environ["GPUMUX_TENANT"], info["tenant_id"]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    lease.ack_pending(0.05)
EOF

# wait_file FILE [SECS]
wait_file() {
	local end=$((SECONDS + ${2:-20}))
	until [[ -s $1 ]]; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

# ------------------------------------------------------------ the daemon

write_config <<EOF
[daemon]
drm = no
rebalance_delay_ms = 0
ack_deadline_ms = 5000
[gpu.virtual0]
cus = $CUS
vram = 16G
EOF
if ! start_gpumuxd; then
	fail "gpumuxd starts"
	finish
fi
# The GPU's id (the module numbers GPUs; an earlier test may have had one).
GID=$("$CTL" --json gpus | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Id"])')

expect "version shows both versions" 0 '^gpumuxd [0-9]' "$CTL" version
jcheck "version --json" 'd["gpumuxctl"] and d["gpumuxd"]' version

# ------------------------------------------------------------ gpus, empty

expect "gpus: table" 0 \
	"^ *ID +NAME +DRIVER +CUS +USED +FREE +VRAM +TENANTS" "$CTL" gpus
expect "gpus: the virtual GPU" 0 "^ *$GID +virtual:virtual0 +virtual +$CUS +" \
	"$CTL" gpus
expect "gpus: footer" 0 '^1 GPU listed\.$' "$CTL" gpus
out=$("$CTL" --no-legend gpus)
if [[ $(wc -l <<<"$out") -eq 1 && $out == *virtual:virtual0* ]]; then
	pass "gpus --no-legend: rows only"
else
	fail "gpus --no-legend: rows only" "$out"
fi
jcheck "gpus --json" \
	"len(d) == 1 and d[0]['Id'] == $GID and d[0]['ComputeUnits'] == $CUS and d[0]['Name'] == 'virtual:virtual0' and d[0]['Driver'] == 'virtual' and d[0]['VRAM'] == 16 << 30 and d[0]['Tenants'] == []" \
	gpus
expect "tenants: none" 0 '^0 tenants listed\.$' "$CTL" tenants
jcheck "tenants --json: none" 'd == []' tenants

# ------------------------------------------------------------ watch

"$CTL" --json watch >"$T/watch.json" 2>"$T/watch-json.err" &
WJ=$!
"$CTL" watch >"$T/watch.txt" 2>"$T/watch.err" &
WH=$!
PIDS+=("$WJ" "$WH")
for f in "$T/watch-json.err" "$T/watch.err"; do
	if wait_file "$f" 20 && grep -q '^Watching gpumuxd' "$f"; then
		pass "watch subscribes (${f##*/})"
	else
		fail "watch subscribes (${f##*/})" "$(cat "$f")"
	fi
done

# ------------------------------------------------------------ attach

"$CTL" attach --name alpha --weight 100 --fd 5 -- \
	"$PY" "$T/acker.py" "$T/alpha.ready" >"$T/alpha.log" 2>&1 &
APID=$!
PIDS+=("$APID")
if wait_file "$T/alpha.ready"; then
	read -r afd apath aid <"$T/alpha.ready"
	pass "attach runs the command holding the lease"
else
	fail "attach runs the command holding the lease" "$(cat "$T/alpha.log")"
	finish
fi
[[ $afd == 5 ]] && pass "attach --fd 5: GPUMUX_LEASE_FD=5" ||
	fail "attach --fd 5: GPUMUX_LEASE_FD=5" "GPUMUX_LEASE_FD=$afd"
[[ $apath == /org/gpumux/Scheduler1/tenant/"$aid" ]] &&
	pass "GPUMUX_TENANT names the lease's tenant ($apath)" ||
	fail "GPUMUX_TENANT names the lease's tenant" "$apath, module id $aid"

"$CTL" attach --name beta --weight 300 --min-cus 8 --pinned-quota 64M -- \
	"$PY" "$T/acker.py" "$T/beta.ready" >"$T/beta.log" 2>&1 &
BPID=$!
PIDS+=("$BPID")
if wait_file "$T/beta.ready"; then
	read -r _ bpath bid <"$T/beta.ready"
	pass "a second tenant attaches"
else
	fail "a second tenant attaches" "$(cat "$T/beta.log")"
	finish
fi

if wait_json 20 "len(d) == 2 and $SETTLED and sum(t['ComputeUnits'] for t in d) == $CUS" tenants; then
	pass "two tenants share the GPU, plan applied"
else
	fail "two tenants share the GPU, plan applied" "$(head -c 600 "$T/wait.json")"
fi
A=$(tenant alpha)
B=$(tenant beta)
jcheck "tenants --json: options of attach" \
	"${A}['Weight'] == 100 and ${B}['Weight'] == 300 and ${B}['MinComputeUnits'] == 8 and ${B}['PinnedQuota'] == 64 << 20 and ${A}['Id'] == $aid and ${B}['Object'] == '$bpath' and ${A}['PID'] == $APID" \
	tenants
jcheck "tenants --json: CUs by weight (1:3)" \
	"${A}['ComputeUnits'] == $CUS // 4 and ${B}['ComputeUnits'] == $CUS * 3 // 4" \
	tenants

expect "tenants: table header" 0 \
	'^ *ID +NAME +UID +PID +GPU +CUS +MASK +WEIGHT +MIN +MAX +PINNED +STATE$' \
	"$CTL" tenants
expect "tenants: a row per tenant" 0 "^ *$bid +beta +0 +$BPID +$GID +96 +[0-9,-]+ +300 +8 +- +[0-9.KMG]+/64M +running$" \
	"$CTL" tenants
expect "tenants: footer" 0 '^2 tenants listed\.$' "$CTL" tenants
out=$("$CTL" --no-legend tenants)
[[ $(wc -l <<<"$out") -eq 2 ]] && pass "tenants --no-legend: rows only" ||
	fail "tenants --no-legend: rows only" "$out"

# ------------------------------------------------------------ status

"$CTL" status >"$T/status.txt" 2>&1
rc=$?
[[ $rc -eq 0 ]] && pass "status exits 0" || fail "status exits 0" "$rc"
sed 's/^/  | /' "$T/status.txt"
grep -Eq "^GPU $GID virtual:virtual0 \(virtual\): $CUS CUs, $CUS used, 0 free" "$T/status.txt" &&
	pass "status: the GPU's line" ||
	fail "status: the GPU's line" "$(cat "$T/status.txt")"
grep -Eq '^Tenants: 2; attaches [0-9]+' "$T/status.txt" &&
	pass "status: the counters" ||
	fail "status: the counters" "$(head -n 3 "$T/status.txt")"
bar=$(grep -E '^  \[[A-Za-z0-9#.]+\]$' "$T/status.txt" | head -n 1)
bar=${bar#*[}
bar=${bar%]}
# 128 CUs: 64 characters of 2 CUs; alpha (A) holds 32 CUs, beta (B) 96.
na=$(tr -cd A <<<"$bar" | wc -c)
nb=$(tr -cd B <<<"$bar" | wc -c)
if [[ ${#bar} -eq 64 && $((na + nb)) -eq 64 && $na -ge 15 && $na -le 17 ]]; then
	pass "status: the CU bar shows who holds what ($bar)"
else
	fail "status: the CU bar shows who holds what" "[$bar] A=$na B=$nb"
fi
grep -Eq "^  A +$aid +alpha +32 +100 +[0-9,-]+ " "$T/status.txt" &&
	grep -Eq "^  B +$bid +beta +96 +300 +[0-9,-]+ " "$T/status.txt" &&
	pass "status: the legend names the letters" ||
	fail "status: the legend names the letters" "$(cat "$T/status.txt")"
jcheck "status --json" \
	"d['Manager']['NTenants'] == 2 and d['Manager']['Policy'] and len(d['GPUs']) == 1 and d['GPUs'][0]['UsedComputeUnits'] == $CUS and sorted(d['GPUs'][0]['Tenants']) == sorted(['$apath', '$bpath']) and sorted(t['Name'] for t in d['Tenants']) == ['alpha', 'beta']" \
	status
expect "status as a user who is not root" 0 "^GPU $GID " as_user "$CTL" status

# ------------------------------------------------------------ attach details

expect "attach: the command's exit status, env and fd" 5 \
	"^7 /org/gpumux/Scheduler1/tenant/[0-9]+ .*gpumux" \
	"$CTL" attach --name envcheck --fd 7 -- sh -c \
	'echo "$GPUMUX_LEASE_FD $GPUMUX_TENANT $(readlink /proc/self/fd/7)"; exit 5'
if wait_json 10 "not [t for t in d if t['Name'] == 'envcheck']" tenants; then
	pass "the lease ends when the command exits"
else
	fail "the lease ends when the command exits" "$(head -c 400 "$T/wait.json")"
fi
expect "attach: default fd 3" 0 '^3$' \
	"$CTL" attach --name fd3 -- sh -c 'test -e /proc/self/fd/3 && echo $GPUMUX_LEASE_FD'
expect "attach: a refused Attach runs nothing (weight 0)" 1 \
	'^gpumuxctl: .*\((InvalidValue|InvalidOption)\)$' \
	"$CTL" attach --name w0 --weight 0 -- sh -c 'echo RAN'
expect "attach: no such GPU" 1 '\(NoSuchGPU\)' \
	"$CTL" attach --name g9 --gpu 9 -- true
expect "attach as a user who is not root; it detaches itself" 0 '' \
	as_user "$CTL" attach --name mine -- sh -c "exec '$CTL' detach \"\$GPUMUX_TENANT\""

# ------------------------------------------------------------ admin verbs

expect "weight by name" 0 '' "$CTL" weight alpha 200
if wait_json 20 "$(tenant alpha)['Weight'] == 200 and $SETTLED and $(tenant alpha)['ComputeUnits'] > 32" tenants; then
	pass "weight: more CUs for alpha"
else
	fail "weight: more CUs for alpha" "$(head -c 600 "$T/wait.json")"
fi

expect "limits by id" 0 '' "$CTL" limits "$bid" 8 64
if wait_json 20 "$(tenant beta)['MinComputeUnits'] == 8 and $(tenant beta)['MaxComputeUnits'] == 64 and $SETTLED and $(tenant beta)['ComputeUnits'] <= 64" tenants; then
	pass "limits: beta capped at 64 CUs"
else
	fail "limits: beta capped at 64 CUs" "$(head -c 600 "$T/wait.json")"
fi

expect "partition by name" 0 '' "$CTL" partition alpha $GID 0-15,32-47
if wait_json 20 "$(tenant alpha)['Pinned'] and $(tenant alpha)['TargetMask'] == '0-15,32-47' and $SETTLED" tenants; then
	pass "partition: alpha pinned to 0-15,32-47"
else
	fail "partition: alpha pinned to 0-15,32-47" "$(head -c 600 "$T/wait.json")"
fi
expect "status: a pinned tenant's state" 0 "^  A +$aid +alpha +32 +200 +0-15,32-47 +.* pinned" \
	"$CTL" status
expect "partition none by object path" 0 '' "$CTL" partition "$apath" $GID none
if wait_json 20 "not $(tenant alpha)['Pinned'] and $SETTLED" tenants; then
	pass "partition none: back to the policy"
else
	fail "partition none: back to the policy" "$(head -c 600 "$T/wait.json")"
fi

expect "fence" 0 '' "$CTL" fence beta
if wait_json 20 "$(tenant beta)['Fenced'] and $(tenant beta)['ComputeUnits'] == 0" tenants; then
	pass "fence: beta holds nothing"
else
	fail "fence: beta holds nothing" "$(head -c 600 "$T/wait.json")"
fi
expect "tenants: a fenced tenant's state" 0 "^ *$bid +beta .* fenced" "$CTL" tenants
expect "unfence" 0 '' "$CTL" unfence "$bid"
if wait_json 20 "not $(tenant beta)['Fenced'] and $(tenant beta)['ComputeUnits'] > 0 and $SETTLED" tenants; then
	pass "unfence: beta has CUs again"
else
	fail "unfence: beta has CUs again" "$(head -c 600 "$T/wait.json")"
fi

# Two tenants named alpha: the name is ambiguous.
"$CTL" attach --name alpha -- sleep 600 &
DUP=$!
PIDS+=("$DUP")
if wait_json 20 "len([t for t in d if t['Name'] == 'alpha']) == 2" tenants; then
	expect "an ambiguous name is a usage error" 2 \
		"2 tenants are named 'alpha' \(ids [0-9]+, [0-9]+\)" \
		"$CTL" weight alpha 100
	dupid=$("$CTL" --json tenants | "$PY" -c "import json, sys
print([t['Id'] for t in json.load(sys.stdin) if t['Name'] == 'alpha' and t['PID'] == $DUP][0])")
	expect "detach by id" 0 '' "$CTL" detach "$dupid"
else
	fail "a second tenant named alpha attaches" "$(head -c 400 "$T/wait.json")"
fi

# ------------------------------------------------------------ errors

expect "unknown tenant id: daemon error, exit 1" 1 \
	'^gpumuxctl: .*\(NoSuchTenant\)$' "$CTL" weight 4242 10
expect "unknown tenant path: exit 1" 1 '\((NoSuchTenant|UnknownObject)\)' \
	"$CTL" fence /org/gpumux/Scheduler1/tenant/4242
expect "unknown tenant name: exit 1" 1 "no tenant is named 'nosuch'" \
	"$CTL" detach nosuch
expect "weight 0: daemon error, exit 1" 1 '\(InvalidValue\)' \
	"$CTL" weight alpha 0
expect "limits min > max: exit 1" 1 '\(InvalidValue\)' \
	"$CTL" limits alpha 64 8
expect "mask beyond the GPU's CUs: exit 1" 1 '\(Invalid(Value|Option)\)' \
	"$CTL" partition alpha $GID 0-200
expect "partition on no such GPU: exit 1" 1 '\(NoSuchGPU\)' \
	"$CTL" partition alpha 9 0-3
expect "bad mask: exit 2" 2 "bad CU mask '5-3'" "$CTL" partition alpha $GID 5-3
expect "bad mask range: exit 2" 2 "CU mask '0-1024'" "$CTL" partition alpha $GID 0-1024
expect "missing argument: exit 2" 2 'Usage: gpumuxctl limits' "$CTL" limits alpha 8

for v in "weight $aid 50" "limits $aid 0 0" "partition $aid $GID 0-3" \
	"fence $aid" "unfence $aid" "detach $aid"; do
	# shellcheck disable=SC2086
	expect "not root: $v: access denied, exit 4" 4 \
		'\((AccessDenied|NotOwner)\)' as_user "$CTL" $v
done
expect "not root, by name: access denied" 4 '\(AccessDenied\)' \
	as_user "$CTL" fence alpha

# ------------------------------------------------------------ detach, gone

expect "detach by name" 0 '' "$CTL" detach beta
if wait_json 10 "not [t for t in d if t['Name'] == 'beta']" tenants; then
	pass "detach: beta is gone"
else
	fail "detach: beta is gone" "$(head -c 400 "$T/wait.json")"
fi

kill -TERM "$APID"
wait "$APID"
rc=$?
[[ $rc -eq 0 ]] && pass "attach's process exits with its command's status" ||
	fail "attach's process exits with its command's status" "exit $rc"
kill "$BPID" "$DUP" 2>/dev/null
wait "$BPID" "$DUP" 2>/dev/null
if wait_json 10 'd == []' tenants; then
	pass "every tenant gone"
else
	fail "every tenant gone" "$(head -c 400 "$T/wait.json")"
fi

# ------------------------------------------------------------ daemon gone

stop_gpumuxd
expect "daemon stopped: status exits 3" 3 '\((ServiceUnknown|NameHasNoOwner)\)' \
	"$CTL" status
expect "daemon stopped: tenants --json exits 3" 3 '' "$CTL" --json tenants
expect "daemon stopped: weight exits 3" 3 '' "$CTL" weight 1 10
expect "daemon stopped: attach exits 3" 3 '' "$CTL" attach --name x -- true
expect "daemon stopped: version still 0" 0 'gpumuxd not reachable' "$CTL" version
sleep 0.5

# ------------------------------------------------------------ watch's output

kill -INT "$WJ" "$WH"
wait "$WJ"
rc=$?
[[ $rc -eq 0 ]] && pass "watch --json exits 0 on SIGINT" ||
	fail "watch --json exits 0 on SIGINT" "exit $rc: $(cat "$T/watch-json.err")"
wait "$WH"
rc=$?
[[ $rc -eq 0 ]] && pass "watch exits 0 on SIGINT" ||
	fail "watch exits 0 on SIGINT" "exit $rc: $(cat "$T/watch.err")"

if "$PY" - "$T/watch.json" "$apath" "$bpath" "$GID" <<'EOF'; then
import json, sys
evs = [json.loads(line) for line in open(sys.argv[1])]
apath, bpath, gid = sys.argv[2], sys.argv[3], int(sys.argv[4])
def has(ev, **kw):
    return any(e["event"] == ev and all(e.get(k) == v for k, v in kw.items())
               for e in evs)
assert all("time" in e and "usec" in e for e in evs), "time stamps"
assert has("TenantAttached", tenant=apath, name="alpha"), "attached alpha"
assert has("TenantAttached", tenant=bpath, name="beta"), "attached beta"
assert has("PartitionChanged", tenant=apath, gpu=gid), "alpha's partition"
assert any(e["event"] == "PartitionChanged" and e["tenant"] == apath and
           e["target"] == "0-15,32-47" for e in evs), "alpha pinned"
assert has("TenantGone", name="envcheck", reason="exited"), "envcheck gone"
assert has("TenantGone", tenant=bpath, reason="detached"), "beta detached"
assert has("TenantGone", tenant=apath, reason="exited"), "alpha exited"
assert has("PropertiesChanged", object="/org/gpumux/Scheduler1",
           interface="org.gpumux.Scheduler1.Manager"), "Manager properties"
assert has("DaemonStopped"), "daemon stopped"
EOF
	pass "watch --json: one JSON object per event, all the events"
else
	fail "watch --json: one JSON object per event, all the events" \
		"$(head -c 1500 "$T/watch.json")"
fi
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} '
if grep -Eq "${ts}TenantAttached tenant=$aid name=\"alpha\"$" "$T/watch.txt" &&
	grep -Eq "${ts}PartitionChanged tenant=$aid gpu=$GID generation=[0-9]+ target=0-15,32-47 active=" "$T/watch.txt" &&
	grep -Eq "${ts}TenantGone tenant=$bid name=\"beta\" reason=detached$" "$T/watch.txt" &&
	grep -Eq "${ts}PropertiesChanged object=/org/gpumux/Scheduler1 interface=Manager " "$T/watch.txt" &&
	grep -Eq "${ts}DaemonStopped owner=:" "$T/watch.txt"; then
	pass "watch: one line per event with a time stamp"
else
	fail "watch: one line per event with a time stamp" "$(head -n 30 "$T/watch.txt")"
fi

finish
