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
