#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-daemon, inside the VM: start gpumuxd on the private bus and run
# bench/daemon-bench (attach/detach calls/s against a D-Bus round-trip
# baseline).  The CSV goes to the host as daemon-bench.csv.
. "$(dirname "$0")/lib.sh"

write_config <<CONF
[daemon]
drm = no
rebalance_delay_ms = 0
default_pinned_quota = 16M
[gpu.virtual0]
cus = 64
vram = 16G
CONF
start_gpumuxd || exit 1
"$GPUMUX_BUILD/daemon/daemon-bench" --seconds "${GMBENCH_SECONDS:-5}" \
	--csv "$GMTEST_TMP/daemon-bench.csv"
rc=$?
[[ $rc == 0 ]] && pass "daemon-bench" || fail "daemon-bench" "exit status $rc"
echo "RSS of gpumuxd after the run: $(awk '/VmRSS/ { print $2, $3 }' /proc/$GPUMUXD_PID/status)"
stop_gpumuxd
# The CSV, between markers, for make bench-daemon to cut out of the log.
if [[ -f $GMTEST_TMP/daemon-bench.csv ]]; then
	echo "GMBENCH-CSV-BEGIN"
	cat "$GMTEST_TMP/daemon-bench.csv"
	echo "GMBENCH-CSV-END"
fi
finish
