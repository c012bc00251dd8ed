#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Two gpumux-engine servers as tenants of gpumuxd on one virtual GPU of 64
# CUs: engine-a attaches itself (serve --attach, weight 100) and serves the
# shared model; engine-b is started by `gpumuxctl attach` (weight 300, a
# 4 MiB pinned quota, less than its 64 sequences of KV need), adopts that
# lease and serves a model `gpumux-engine init-random` wrote.  Checked:
#  - both serve at once: concurrent greedy completions on each give the
#    token ids `gpumux-engine generate --ids` gives for the same prompt;
#  - each KV pool is a pinned buffer of its tenant (PinnedBytes >= the
#    engine's gpumux_engine_kv_pool_bytes); engine-b's pool shrank to fit
#    its quota;
#  - CUs split 16/48 by weight and the compute threads follow
#    (--threads 8: 2 and 6; /metrics gpumux_engine_compute_threads);
#  - load reports reach the Tenant's Load property;
#  - fenced, engine-b stops stepping (/health "fenced", requests wait) and
#    goes on when the fence is lifted;
#  - kill -9 of engine-a: its tenant and KV pool are freed (Manager
#    PinnedUsed drops), engine-b grows back to 64 CUs and 8 threads and
#    keeps serving;
#  - gpumuxd killed and restarted: engine-b keeps serving meanwhile and its
#    load reports resume;
#  - SIGTERM: engine-b exits 0 and detaches (no tenant, nothing pinned).
#
# engine-a's model: ../shared/models/aidreams260K next to the repository
# when it is there ($GPUMUX_MODEL overrides), else a random one too.
# Runs in the test VM (make vm-daemon-check; see run-suite.sh).

. "$(dirname "$0")/lib.sh"

ENGINE=${GPUMUX_ENGINE:-$GPUMUX_BUILD/engine/gpumux-engine}
# engine-b runs under ASan/UBSan when that build is there (make
# engine-serve-check builds it): its clean exit then checks for leaks too
ENGINE_B=$(dirname "$ENGINE")/asan/gpumux-engine
[[ -x $ENGINE_B ]] || ENGINE_B=$ENGINE
MODEL=${GPUMUX_MODEL:-$GPUMUX_REPO/../shared/models/aidreams260K/aidreams260K.bin}
PY=/usr/bin/python3
PORT_A=8101
PORT_B=8102
CPUS=8 # --threads: the compute threads when holding the whole GPU

[[ -x $ENGINE ]] || skip_all "no $ENGINE (make engine)"
[[ -x $GPUMUXD ]] || skip_all "no $GPUMUXD (make gpumuxd)"
[[ -x $GPUMUXCTL ]] || skip_all "no $GPUMUXCTL (make gpumuxctl)"
[[ -c /dev/gpumux ]] || skip_all "no /dev/gpumux (the module is not loaded)"
command -v jq >/dev/null || skip_all "no jq"

# The guest boots with the loopback interface down: HTTP on 127.0.0.1
# needs it (only ever done in the test VM).
if [[ ${GMVM_GUEST:-} == 1 ]] && ! ip -o link show lo | grep -q '[<,]UP[,>]'; then
	ip link set lo up || skip_all "cannot bring up lo"
fi

# ---------------------------------------------------------------- helpers

# wait_for SECS CMD...: until CMD succeeds (0) or SECS pass (1)
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

tenants() { gm_ctl --json tenants; }
# tenant NAME JQ-FILTER: the filter applied to tenant NAME's JSON
tenant() { tenants | jq -r --arg n "$1" ".[] | select(.Name == \$n) | $2"; }
no_tenant() { [[ -z $(tenant "$1" .Id) ]]; }
manager_prop() {
	gm_busctl get-property "$GM_NAME" "$GM_PATH" "$GM_MANAGER" "$1" |
		cut -d' ' -f2
}
# metric PORT NAME: the value of gpumux_engine_NAME (no labels)
metric() {
	curl -fsS --max-time 10 "http://127.0.0.1:$1/metrics" |
		awk -v n="gpumux_engine_$2" '$1 == n { print $2 }'
}
metric_is() { [[ $(metric "$1" "$2") == "$3" ]]; }
healthy() { curl -fsS --max-time 5 "http://127.0.0.1:$1/health" >/dev/null 2>&1; }
cus_are() { [[ $(tenant "$1" .ComputeUnits) == "$2" ]]; }

# the greedy token ids `generate` gives, one line per prompt
PROMPTS=("Once upon a time" "The little dog" "Lily saw a big" "One day,")
NEW=24
expected_ids() { # MODEL TOKENIZER
	local p
	for p in "${PROMPTS[@]}"; do
		"$ENGINE" generate --model "$1" --tokenizer "$2" \
			--prompt "$p" -n $NEW -t 0 --ids 2>/dev/null
	done
}

# complete PORT EXPECTED [PORT EXPECTED]: the prompts concurrently on each
# PORT (greedy, token ids); fails unless each matches its EXPECTED lines
complete() {
	"$PY" - "$NEW" "$@" -- "${PROMPTS[@]}" <<'PY'
import http.client, json, sys, threading
new = int(sys.argv[1])
sep = sys.argv.index('--')
pairs = sys.argv[2:sep]
ports = [int(p) for p in pairs[0::2]]
expected = {int(p): e.split('\n') for p, e in zip(pairs[0::2], pairs[1::2])}
prompts = sys.argv[sep + 1:]
bad = []

def one(port, i):
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
        c.request('POST', '/v1/completions', json.dumps({
            'prompt': prompts[i], 'max_tokens': new, 'temperature': 0,
            'return_token_ids': True}),
            {'Content-Type': 'application/json'})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            bad.append('%d: HTTP %d %s' % (port, r.status, body[:200]))
            return
        ids = ' '.join(map(str, json.loads(body)['choices'][0]['token_ids']))
        if ids != expected[port][i].strip():
            bad.append('%d: %r: %s, generate says %s' %
                       (port, prompts[i], ids, expected[port][i]))
    except Exception as e:
        bad.append('%d: %r: %s' % (port, prompts[i], e))

ts = [threading.Thread(target=one, args=(p, i))
      for p in ports for i in range(len(prompts))]
for t in ts: t.start()
for t in ts: t.join()
print('\n'.join(bad) if bad else
      '%d completions on port(s) %s match generate' %
      (len(ts), ' '.join(map(str, ports))))
sys.exit(1 if bad else 0)
PY
}

# load PORT SECS: keep 8 streams generating on PORT for SECS seconds
load() {
	"$PY" - "$1" "$2" <<'PY' >/dev/null 2>&1
import http.client, json, sys, threading, time
port, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
def loop(i):
    while time.time() < end:
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
            c.request('POST', '/v1/completions', json.dumps({
                'prompt': 'Story %d' % i, 'max_tokens': 200,
                'temperature': 0.8, 'seed': i}))
            c.getresponse().read()
        except Exception:
            time.sleep(0.1)
ts = [threading.Thread(target=loop, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
PY
}

show() {
	echo "# $*"
	"$@" 2>&1 | sed 's/^/#   /'
}

logs() {
	local f
	for f in "$GMTEST_TMP"/engine-*.log; do
		echo "# $f, last lines:"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
	echo "# gpumuxd's log, last lines:"
	tail -n 15 "$GPUMUXD_LOG" | sed 's/^/#   /'
}

PID_A=
PID_B=
cleanup() {
	[[ -z $PID_A ]] || kill -9 "$PID_A" 2>/dev/null
	[[ -z $PID_B ]] || kill -9 "$PID_B" 2>/dev/null
	gm_cleanup
}
trap cleanup EXIT

# ---------------------------------------------------------------- model

check "init-random writes a model" \
	"$ENGINE" init-random --out "$GMTEST_TMP/random" --seed 7 || finish
MODEL_B=$GMTEST_TMP/random/model.bin
TOK_B=$GMTEST_TMP/random/tokenizer.bin
if [[ -f $MODEL ]]; then
	MODEL_A=$MODEL
	TOK_A=$(dirname "$MODEL")/tokenizer.bin
	[[ -f $TOK_A ]] ||
		TOK_A=$(ls "$(dirname "$MODEL")"/tok*.bin 2>/dev/null | head -n 1)
else
	echo "# no $MODEL: engine-a serves the random model too"
	MODEL_A=$MODEL_B
	TOK_A=$TOK_B
fi
echo "# engine-a: $MODEL_A; engine-b: $MODEL_B ($ENGINE_B)"
EXPECTED_A=$(expected_ids "$MODEL_A" "$TOK_A")
EXPECTED_B=$(expected_ids "$MODEL_B" "$TOK_B")
[[ $(wc -l <<<"$EXPECTED_A") -eq ${#PROMPTS[@]} &&
	$(wc -l <<<"$EXPECTED_B") -eq ${#PROMPTS[@]} ]] ||
	{ fail "generate gives the reference ids" "$EXPECTED_A $EXPECTED_B"; finish; }

# ---------------------------------------------------------------- daemon

# A generous ack deadline: the guest is emulated.
write_config <<'EOF'
[daemon]
policy = fairshare
ack_deadline_ms = 10000
rebalance_delay_ms = 20
default_pinned_quota = 64M
drm = no

[gpu.virtual0]
cus = 64
vram = 16G
EOF
start_gpumuxd --no-drm || { fail "gpumuxd starts"; finish; }
PINNED0=$(manager_prop PinnedUsed)

# ---------------------------------------------------------------- engines

"$ENGINE" serve --model "$MODEL_A" --tokenizer "$TOK_A" \
	--listen "127.0.0.1:$PORT_A" --threads $CPUS --max-seqs 16 --verbose \
	--attach engine-a --weight 100 >"$GMTEST_TMP/engine-a.log" 2>&1 &
PID_A=$!
# (not gm_ctl: a function would run in a subshell, and $! be its pid)
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$GPUMUXCTL" attach --name engine-b --weight 300 --pinned-quota 4M -- \
	"$ENGINE_B" serve --model "$MODEL_B" --tokenizer "$TOK_B" \
	--listen "127.0.0.1:$PORT_B" --threads $CPUS --max-seqs 64 --verbose \
	--attach engine-b >"$GMTEST_TMP/engine-b.log" 2>&1 &
PID_B=$!

ok=1
for p in $PORT_A $PORT_B; do
	if ! wait_for 60 healthy $p; then
		fail "engine on port $p serves" "no /health"
		ok=
	fi
done
[[ -n $ok ]] || { logs; finish; }
pass "both engines serve"
grep -q "adopted" "$GMTEST_TMP/engine-b.log" &&
	pass "engine-b adopted the lease of gpumuxctl attach" ||
	fail "engine-b adopted the lease of gpumuxctl attach" \
		"$(head -n 3 "$GMTEST_TMP/engine-b.log")"

# CUs by weight, then the threads follow
if wait_for 30 cus_are engine-a 16 && wait_for 5 cus_are engine-b 48; then
	pass "CUs split 16/48 by weight"
else
	fail "CUs split 16/48 by weight" \
		"$(tenants | jq -c '[.[] | {Name, ComputeUnits}]')"
fi
if wait_for 30 metric_is $PORT_A compute_threads 2 &&
	wait_for 10 metric_is $PORT_B compute_threads 6; then
	pass "compute threads follow the partition (2 and 6 of $CPUS)"
else
	fail "compute threads follow the partition (2 and 6 of $CPUS)" \
		"a: $(metric $PORT_A compute_threads), b: $(metric $PORT_B compute_threads)"
fi
check "partition CUs in /metrics" metric_is $PORT_A partition_cus 16
check "GPU CUs in /metrics" metric_is $PORT_B gpu_cus 64
if [[ $(tenant engine-a .Fenced) == false &&
	$(tenant engine-b .Fenced) == false ]]; then
	pass "no engine was fenced (shrinks acknowledged in time)"
else
	fail "no engine was fenced (shrinks acknowledged in time)"
fi
show gm_ctl status

# KV pools are pinned buffers of the tenants
pool_a=$(metric $PORT_A kv_pool_bytes)
pool_b=$(metric $PORT_B kv_pool_bytes)
pin_a=$(tenant engine-a .PinnedBytes)
pin_b=$(tenant engine-b .PinnedBytes)
echo "# KV pools: engine-a $pool_a bytes (pinned $pin_a), engine-b $pool_b bytes (pinned $pin_b)"
if [[ $pool_a -gt 0 && $pool_b -gt 0 && $pin_a -ge $pool_a &&
	$pin_b -ge $pool_b ]]; then
	pass "each KV pool is a pinned buffer of its tenant"
else
	fail "each KV pool is a pinned buffer of its tenant"
fi
used=$(manager_prop PinnedUsed)
[[ $used -ge $((PINNED0 + pool_a + pool_b)) ]] &&
	pass "the module's PinnedUsed counts both pools" ||
	fail "the module's PinnedUsed counts both pools" "$used"
if [[ $pool_b -le $((4 << 20)) ]] &&
	grep -q "KV pool shrunk" "$GMTEST_TMP/engine-b.log"; then
	pass "engine-b's KV pool shrank to its 4 MiB pinned quota"
else
	fail "engine-b's KV pool shrank to its 4 MiB pinned quota" "$pool_b bytes"
fi

# serving at once
check "concurrent greedy completions on both match generate" \
	complete $PORT_A "$EXPECTED_A" $PORT_B "$EXPECTED_B"

# load reports: while both are busy, the Load property shows it
# load_prop NAME: the tenant's Load property as JSON (one D-Bus call: the
# guest is slow, and busy now)
declare -A OBJ
OBJ[engine-a]=$(tenant engine-a .Object)
OBJ[engine-b]=$(tenant engine-b .Object)
load_prop() {
	gm_busctl --json=short get-property "$GM_NAME" "${OBJ[$1]}" \
		"$GM_NAME.Tenant" Load | jq -c '.data | map_values(.data)'
}
# busy NAME: its last load report says it is generating
busy() {
	load_prop "$1" | jq -e '.tokens_per_s > 0 and .running > 0' >/dev/null
}
load $PORT_A 15 &
LOADER_A=$!
load $PORT_B 15 &
LOADER_B=$!
seen_a=
seen_b=
end=$((SECONDS + 15))
while [[ -z $seen_a || -z $seen_b ]] && ((SECONDS < end)); do
	[[ -n $seen_a ]] || ! busy engine-a || seen_a=$(load_prop engine-a)
	[[ -n $seen_b ]] || ! busy engine-b || seen_b=$(load_prop engine-b)
	sleep 0.2
done
for e in a b; do
	v=seen_$e
	if [[ -n ${!v} ]]; then
		pass "engine-$e's load reports reach its Load property"
		echo "#   ${!v}"
	else
		fail "engine-$e's load reports reach its Load property" \
			"$(load_prop engine-$e)"
	fi
done
kvt=$(tenant engine-b .Load.kv_blocks_total)
[[ $kvt == "$(metric $PORT_B kv_blocks_total)" ]] &&
	pass "Load.kv_blocks_total is the engine's" ||
	fail "Load.kv_blocks_total is the engine's" "$kvt"
wait $LOADER_A $LOADER_B

# fenced: engine-b stops stepping, requests wait, the fence lifts
gm_ctl fence engine-b >/dev/null
if wait_for 10 metric_is $PORT_B paused 1; then
	pass "fenced: engine-b pauses"
else
	fail "fenced: engine-b pauses" "paused=$(metric $PORT_B paused)"
fi
h=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$PORT_B/health")
[[ $h == *'"status":"fenced"'*' 200' ]] &&
	pass "fenced: /health is 200 with status fenced" ||
	fail "fenced: /health is 200 with status fenced" "$h"
curl -s --max-time 60 "http://127.0.0.1:$PORT_B/v1/completions" \
	-d '{"prompt": "Once", "max_tokens": 8, "temperature": 0}' \
	>"$GMTEST_TMP/fenced.json" &
CURL=$!
sleep 1.5
if kill -0 $CURL 2>/dev/null; then
	pass "fenced: a request waits"
else
	fail "fenced: a request waits" "$(cat "$GMTEST_TMP/fenced.json")"
fi
gm_ctl unfence engine-b >/dev/null
wait $CURL
grep -q '"finish_reason"' "$GMTEST_TMP/fenced.json" &&
	pass "unfenced: the request completes" ||
	fail "unfenced: the request completes" "$(cat "$GMTEST_TMP/fenced.json")"
wait_for 10 metric_is $PORT_B paused 0 &&
	wait_for 10 cus_are engine-b 48 &&
	pass "unfenced: engine-b steps again with its CUs" ||
	fail "unfenced: engine-b steps again with its CUs"

# kill -9 engine-a: its lease and KV pool go, engine-b gets every CU
before=$(manager_prop PinnedUsed)
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null
PID_A=
if wait_for 20 no_tenant engine-a; then
	pass "kill -9: engine-a's tenant is gone"
else
	fail "kill -9: engine-a's tenant is gone"
fi
after=$(manager_prop PinnedUsed)
echo "# PinnedUsed: $before -> $after bytes"
[[ $after -le $((before - pool_a)) ]] &&
	pass "kill -9: engine-a's KV pool is freed" ||
	fail "kill -9: engine-a's KV pool is freed" "$before -> $after"
if wait_for 30 cus_are engine-b 64 &&
	wait_for 30 metric_is $PORT_B compute_threads $CPUS; then
	pass "engine-b grows back to 64 CUs and $CPUS threads"
else
	fail "engine-b grows back to 64 CUs and $CPUS threads" \
		"$(tenant engine-b .ComputeUnits) CUs, $(metric $PORT_B compute_threads) threads"
fi
check "engine-b keeps serving" complete $PORT_B "$EXPECTED_B"

# gpumuxd goes away and comes back: the lease stays, serving goes on
kill9_gpumuxd
check "gpumuxd gone: engine-b keeps serving" complete $PORT_B "$EXPECTED_B"
load $PORT_B 2
healthy $PORT_B && kill -0 "$PID_B" 2>/dev/null &&
	pass "gpumuxd gone: engine-b is up after failed load reports" ||
	fail "gpumuxd gone: engine-b is up after failed load reports"
start_gpumuxd --no-drm || { fail "gpumuxd restarts"; logs; finish; }
load $PORT_B 15 &
LOADER_B=$!
if wait_for 15 busy engine-b; then
	pass "gpumuxd restarted: engine-b's load reports resume"
else
	fail "gpumuxd restarted: engine-b's load reports resume" \
		"$(load_prop engine-b)"
fi
wait $LOADER_B
n=$(grep -c "load reports to gpumuxd fail" "$GMTEST_TMP/engine-b.log")
[[ $n -eq 1 ]] &&
	pass "the failing reports were logged once" ||
	fail "the failing reports were logged once" "$n times"

# SIGTERM: engine-b exits 0 and detaches
kill -TERM "$PID_B"
wait "$PID_B"
rc=$?
PID_B=
[[ $rc -eq 0 ]] && pass "SIGTERM: engine-b exits 0" ||
	fail "SIGTERM: engine-b exits 0" "exit $rc"
if grep -qE 'Sanitizer|runtime error' "$GMTEST_TMP/engine-b.log"; then
	fail "engine-b: no sanitizer reports ($ENGINE_B)"
	grep -A 20 -E 'Sanitizer|runtime error' "$GMTEST_TMP/engine-b.log" |
		head -n 40 | sed 's/^/#   /'
else
	pass "engine-b: no sanitizer reports ($ENGINE_B)"
fi
wait_for 10 no_tenant engine-b &&
	pass "SIGTERM: engine-b's tenant is gone" ||
	fail "SIGTERM: engine-b's tenant is gone"
wait_for 10 eval '[[ $(manager_prop PinnedUsed) -eq $PINNED0 ]]' &&
	pass "nothing stays pinned" ||
	fail "nothing stays pinned" "$(manager_prop PinnedUsed) bytes"

[[ $GMTEST_FAILS -eq 0 ]] || logs
stop_gpumuxd && pass "gpumuxd stops cleanly" ||
	fail "gpumuxd stops cleanly" "exit $GPUMUXD_STATUS"
finish
