#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What `make install-libgpumux DESTDIR=DIR` (PREFIX=/usr) put in DIR is
# complete, and a program builds against it with pkg-config alone.
#
#   check-install.sh DESTDIR EXAMPLE.c
set -eu -o pipefail

root=$1 example=$2
libdir=/usr/lib/x86_64-linux-gnu
bad=0

for f in /usr/include/gpumux/client.h $libdir/libgpumux.so.0.1.0 \
	$libdir/libgpumux.so.0 $libdir/libgpumux.so \
	$libdir/pkgconfig/gpumux.pc /usr/share/man/man3/gpumux.3 \
	/usr/share/man/man3/gpumux_tenant_attach.3; do
	if [[ ! -e $root$f ]]; then
		echo "check-install: $f not installed" >&2
		bad=1
	fi
done
[[ $(readlink "$root$libdir/libgpumux.so.0") == libgpumux.so.0.1.0 ]] || {
	echo "check-install: libgpumux.so.0 does not point at libgpumux.so.0.1.0" >&2
	bad=1
}
grep -qx 'prefix=/usr' "$root$libdir/pkgconfig/gpumux.pc" || {
	echo "check-install: gpumux.pc not generated for prefix /usr" >&2
	bad=1
}
[[ $bad -eq 0 ]] || exit 1

export PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH=$root$libdir/pkgconfig
ver=$(pkg-config --modversion gpumux)
[[ $ver == 0.1.0 ]] || {
	echo "check-install: pkg-config says version '$ver'" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046 # word splitting of the flags is wanted
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -o "$tmp/example" "$example" \
	$(pkg-config --cflags --libs gpumux)
readelf -d "$tmp/example" | grep -q 'NEEDED.*\[libgpumux\.so\.0\]' || {
	echo "check-install: the example does not link libgpumux.so.0" >&2
	exit 1
}
LD_LIBRARY_PATH=$root$libdir "$tmp/example" >/dev/null 2>&1 || true
echo "PASS: libgpumux install: files, gpumux.pc, a program built with pkg-config"
