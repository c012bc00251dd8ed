#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""1,000 attach/detach cycles: the daemon's open fds and RSS are flat
afterwards (no leaked lease, message or tenant), and every tenant is gone
from the module.  Also prints the cycle rate (bench/daemon-bench measures
it properly)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmd  # noqa: E402
from gmd import check, wait_until  # noqa: E402

TMP = "/tmp/test-cycles"
CYCLES = int(os.environ.get("GMTEST_CYCLES", "1000"))


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cycle(mgr, i):
    path, fd = mgr.Attach({"name": "cycle-%d" % i})
    if i % 2:
        mgr.Detach(path)  # detached, then the lease closed
    os.close(fd.take())  # (even i: just closed: "exited")


def main():
    d = gmd.Daemon(TMP)
    pid = d.start()
    mgr = d.mgr()
    # Warm up (first-use allocations), then measure.
    for i in range(50):
        cycle(mgr, i)
    wait_until(lambda: not d.tenants(), 10)
    fd0, rss0 = nfds(pid), rss_kib(pid)
    t0 = time.monotonic()
    for i in range(CYCLES):
        cycle(mgr, i)
    dt = time.monotonic() - t0
    print("# %d attach/detach cycles in %.1f s: %.0f cycles/s" %
          (CYCLES, dt, CYCLES / dt), flush=True)
    check(wait_until(lambda: not d.tenants(), 20),
          "every cycled tenant is gone", "%d left" % len(d.tenants()))
    time.sleep(0.5)
    fd1, rss1 = nfds(pid), rss_kib(pid)
    print("# daemon fds %d -> %d, RSS %d -> %d KiB" % (fd0, fd1, rss0, rss1))
    check(fd1 == fd0, "the daemon's fd count is flat", "%d -> %d" %
          (fd0, fd1))
    check(rss1 - rss0 < 1024, "the daemon's RSS is flat (< 1 MiB growth)",
          "%d -> %d KiB" % (rss0, rss1))
    st = d.prop(gmd.PATH, "Manager", "Attaches")
    check(st >= CYCLES + 50, "Attaches counter counts them", "%d" % st)
    check(d.stop() == 0, "clean stop")
    gmd.finish()


if __name__ == "__main__":
    gmd.run(main, "test-cycles")
