#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Command line checks of gpumux-engine: exit codes and output shape.
# Usage: test-cli.sh PATH-TO-gpumux-engine
set -u
bin=$1
dir=${GPUMUX_MODEL_DIR:-../shared/models}/aidreams260K
model=$dir/aidreams260K.bin
tok=$dir/tok512.bin

expect() {	# name, expected status, command...
	local name=$1 want=$2 rc
	shift 2
	"$@" >/dev/null 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		echo "PASS cli_$name"
	else
		echo "FAIL cli_$name: status $rc, expected $want"
	fi
}

expect help 0 "$bin" --help
expect no_command 2 "$bin"
expect bad_command 2 "$bin" frobnicate
expect no_model 2 "$bin" generate
expect bad_n 2 "$bin" generate --model x -n abc
expect negative_n 2 "$bin" generate --model x -n -3
expect bad_temperature 2 "$bin" generate --model x --temperature -1
expect bad_top_p 2 "$bin" generate --model x --top-p 1.5
expect bad_threads 2 "$bin" generate --model x --threads 0
expect bad_option 2 "$bin" generate --model x --bogus
expect missing_arg 2 "$bin" generate --model
expect missing_model_file 1 "$bin" generate --model /nonexistent/model.bin
expect bad_model_file 1 "$bin" generate --model "$0" --ids

# init-random: a seeded stand-in model, the same bytes for the same seed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect init_random_no_out 2 "$bin" init-random
expect init_random_bad_shape 2 "$bin" init-random --out "$tmp/x" --heads 5
expect init_random_small_vocab 2 "$bin" init-random --out "$tmp/x" --vocab 100
expect init_random_bad_dir 1 "$bin" init-random --out /nonexistent/dir/x
"$bin" init-random --out "$tmp/a" --seed 5 >/dev/null 2>&1
"$bin" init-random --out "$tmp/b" --seed 5 >/dev/null 2>&1
"$bin" init-random --out "$tmp/c" --seed 6 --layers 2 --kv-heads 8 \
	--separate-classifier >/dev/null 2>&1
if cmp -s "$tmp/a/model.bin" "$tmp/b/model.bin" &&
	cmp -s "$tmp/a/tokenizer.bin" "$tmp/b/tokenizer.bin" &&
	! cmp -s "$tmp/a/model.bin" "$tmp/c/model.bin"; then
	echo "PASS cli_init_random_deterministic"
else
	echo "FAIL cli_init_random_deterministic"
fi
rids=$("$bin" generate --model "$tmp/a/model.bin" --prompt "Once upon a time" \
	-t 0 -n 16 --ids 2>/dev/null)
rids2=$("$bin" generate --model "$tmp/b/model.bin" --prompt "Once upon a time" \
	-t 0 -n 16 --ids --threads 3 2>/dev/null)
ctext=$("$bin" generate --model "$tmp/c/model.bin" -n 8 --seed 3 2>/dev/null)
if [ "$(echo "$rids" | wc -w)" -eq 16 ] && [ "$rids" = "$rids2" ] &&
	[ -n "$ctext" ]; then
	echo "PASS cli_init_random_generates"
else
	echo "FAIL cli_init_random_generates: '$rids' '$rids2' '$ctext'"
fi
# --attach with no daemon: a clear refusal, not a hang or a crash
expect attach_no_daemon 1 env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-bus" \
	GPUMUX_LEASE_FD= "$bin" serve --model "$tmp/a/model.bin" \
	--listen 127.0.0.1:0 --attach t0
expect attach_bad_lease_fd 1 env GPUMUX_LEASE_FD=0 "$bin" serve \
	--model "$tmp/a/model.bin" --listen 127.0.0.1:0 --attach t0
expect attach_options_alone 2 "$bin" serve --model "$tmp/a/model.bin" \
	--weight 3
expect attach_bad_weight 2 "$bin" serve --model "$tmp/a/model.bin" \
	--attach t0 --weight 70000

if [ ! -r "$model" ] || [ ! -r "$tok" ]; then
	echo "SKIP cli_generate: $model not found (set GPUMUX_MODEL_DIR)"
	exit 0
fi
expect bad_tokenizer 1 "$bin" generate --model "$model" --tokenizer "$0"
ids=$("$bin" generate --model "$model" --ids -t 0 -n 20 2>/dev/null)
n=$(echo "$ids" | wc -w)
if [ "$(echo "$ids" | wc -l)" -eq 1 ] && [ "$n" -ge 1 ] && [ "$n" -le 20 ] &&
	[[ "$ids" =~ ^[0-9\ ]+$ ]]; then
	echo "PASS cli_generate_ids"
else
	echo "FAIL cli_generate_ids: '$ids'"
fi
ids2=$("$bin" generate --model "$model" --ids -t 0 -n 20 --threads 2 \
	--prompt "" --tokenizer "$tok" 2>/dev/null)
if [ "$ids" = "$ids2" ]; then
	echo "PASS cli_generate_deterministic"
else
	echo "FAIL cli_generate_deterministic: '$ids' vs '$ids2'"
fi
text=$("$bin" generate --model "$model" --prompt "Once upon a time" \
	-n 30 --seed 5 2>/dev/null)
rate=$("$bin" generate --model "$model" -t 0 -n 20 2>&1 >/dev/null)
if [ -n "$text" ] && [[ "$rate" == *tok/s* ]]; then
	echo "PASS cli_generate_text"
else
	echo "FAIL cli_generate_text: '$text' '$rate'"
fi
