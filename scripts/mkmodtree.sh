#!/bin/sh
# Make DIR an object directory for an out-of-tree module build: a tree of
# symlinks to the module sources, so each kernel flavour keeps its own
# objects and the source tree stays clean.
set -eu
dir=$1
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
ln -sfn "$src/Kbuild" "$dir/Kbuild"
(cd "$src" && find kmod -type d) | while read -r d; do mkdir -p "$dir/$d"; done
(cd "$src" && find kmod -type f \( -name '*.c' -o -name '*.h' \)) |
	while read -r f; do ln -sfn "$src/$f" "$dir/$f"; done
# Drop links whose source is gone.
find "$dir/kmod" -xtype l -delete
