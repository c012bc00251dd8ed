#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo, inside the VM (tests/daemon/run-suite.sh --demo): gpumuxd on a
# private bus drives gpumux.ko; two gpumux-engine servers attach to one
# virtual GPU as tenants (weights 1:3) and each streams a completion;
# gpumuxctl shows how they share the CUs, then one engine is killed and
# the other gets every CU back.
#
# The model: $GPUMUX_MODEL (a llama2.c checkpoint with its tokenizer next
# to it), default ../shared/models/aidreams260K next to the repository;
# when there is none, the engine generates a small checkpoint with seeded
# random weights (it says so: its text is gibberish).
. "$(dirname "$0")/lib.sh"

ENGINE=${GPUMUX_ENGINE:-$GPUMUX_BUILD/engine/gpumux-engine}
MODEL=${GPUMUX_MODEL:-$GPUMUX_REPO/../shared/models/aidreams260K/aidreams260K.bin}

# The guest boots with the loopback interface down; HTTP needs it.
if [[ ${GMVM_GUEST:-} == 1 ]] && ! ip -o link show lo | grep -q '[<,]UP[,>]'; then
	ip link set lo up
fi

step() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
ctl() {
	echo "\$ gpumuxctl $*"
	"$GPUMUXCTL" "$@"
}

# ---- the model
if [[ ! -f $MODEL ]]; then
	step "no model at $MODEL: generating one with seeded random weights"
	MODEL=$GMTEST_TMP/random/model.bin
	"$ENGINE" init-random --out "$GMTEST_TMP/random" --seed 42 ||
		{ fail "random checkpoint" "gpumux-engine init-random failed"; finish; }
fi
TOKENIZER=$(dirname "$MODEL")/tokenizer.bin
[[ -f $TOKENIZER ]] || TOKENIZER=$(ls "$(dirname "$MODEL")"/tok*.bin 2>/dev/null | head -n 1)
echo "model: $MODEL"
echo "tokenizer: $TOKENIZER"

# ---- the daemon
step "gpumuxd: one virtual GPU of 304 CUs (no GPU here)"
write_config <<'CONF'
[daemon]
drm = no
[gpu.virtual0]
cus = 304
vram = 192G
CONF
start_gpumuxd || { fail "gpumuxd starts"; finish; }
pass "gpumuxd starts"
ctl status

# ---- two engines, each a tenant holding its lease
# engine NAME WEIGHT PORT: in the background ($! is its pid: gpumuxctl
# attach execs the engine with the lease)
engine() {
	"$GPUMUXCTL" attach --name "$1" --weight "$2" -- \
		"$ENGINE" serve --model "$MODEL" --tokenizer "$TOKENIZER" \
		--listen "127.0.0.1:$3" --attach "$1" \
		>"$GMTEST_TMP/$1.log" 2>&1 &
}
wait_health() { # PORT
	local i
	for i in $(seq 600); do
		curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

step "two engines attach: engine-a (weight 100) and engine-b (weight 300)"
engine engine-a 100 8001
PID_A=$!
engine engine-b 300 8002
PID_B=$!
for p in 8001 8002; do
	if wait_health $p; then
		pass "engine on port $p serves"
	else
		fail "engine on port $p serves" "no /health"
		tail -n 20 "$GMTEST_TMP"/engine-*.log
	fi
done
# the split settles once engine-a has acknowledged its shrink
shares() {
	"$GPUMUXCTL" --json tenants | python3 -c 'import json, sys
t = {x["Name"]: x["ComputeUnits"] for x in json.load(sys.stdin)}
print(t.get("engine-a", 0), t.get("engine-b", 0))'
}
for _ in $(seq 100); do
	[[ $(shares) == "76 228" ]] && break
	sleep 0.1
done
ctl status
ctl tenants

out=$("$GPUMUXCTL" --json tenants)
python3 - "$out" <<'PY' && pass "engines share the GPU 1:3" || fail "engines share the GPU 1:3" "$out"
import json, sys
t = {x["Name"]: x for x in json.loads(sys.argv[1])}
a, b = t["engine-a"]["ComputeUnits"], t["engine-b"]["ComputeUnits"]
print("engine-a %d CUs, engine-b %d CUs" % (a, b))
sys.exit(0 if a + b == 304 and a == 76 and b == 228 else 1)
PY

step "a streamed completion from each engine"
for p in 8001 8002; do
	echo "\$ curl -N http://127.0.0.1:$p/v1/completions -d '{\"prompt\": \"Once upon a time\", \"max_tokens\": 48, \"temperature\": 0, \"stream\": true}'"
	curl -sN "http://127.0.0.1:$p/v1/completions" \
		-H 'Content-Type: application/json' \
		-d '{"prompt": "Once upon a time", "max_tokens": 48, "temperature": 0, "stream": true}' \
		>"$GMTEST_TMP/stream.$p"
	python3 - "$GMTEST_TMP/stream.$p" <<'PY' && pass "port $p streams a completion" || fail "port $p streams a completion"
import json, sys
text, done = "", False
for line in open(sys.argv[1]):
    line = line.strip()
    if line == "data: [DONE]":
        done = True
    elif line.startswith("data: "):
        text += json.loads(line[6:])["choices"][0]["text"]
print("  Once upon a time" + text)
sys.exit(0 if done and text else 1)
PY
done

step "engine-a is killed: its lease closes, engine-b gets every CU"
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null
for _ in $(seq 100); do
	n=$("$GPUMUXCTL" --json tenants | python3 -c 'import json,sys; print(sum(t["ComputeUnits"] for t in json.load(sys.stdin) if t["Name"] == "engine-b"))')
	[[ $n == 304 ]] && break
	sleep 0.1
done
ctl status
[[ $n == 304 ]] && pass "engine-b holds all 304 CUs" || fail "engine-b holds all 304 CUs" "it has $n"

step "stop"
kill -TERM "$PID_B"
if wait "$PID_B"; then
	pass "engine-b exits cleanly"
else
	fail "engine-b exits cleanly" "exit status $?"
fi
stop_gpumuxd && pass "gpumuxd stops cleanly" || fail "gpumuxd stops cleanly" "exit $GPUMUXD_STATUS"
finish
