#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""kill -9 of gpumuxd while tenants are attached loses nothing: their
leases and mappings keep working while it is down, and a restarted daemon
adopts every tenant with its owner, weight and partition (no CU moves);
then it carries on (a tenant exiting is noticed, shares re-balanced)."""

import os
import sys

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmd  # noqa: E402
from gmd import check, wait_until  # noqa: E402
import gmlease  # noqa: E402

TMP = "/tmp/test-restart"


def snapshot(d):
    out = {}
    for name, t in d.tenants().items():
        p = t[1]
        out[name] = (t[0], t[2], d.prop(p, "Tenant", "Weight"),
                     d.prop(p, "Tenant", "Generation"),
                     bytes(d.prop(p, "Tenant", "ActiveMask")),
                     d.prop(p, "Tenant", "MinComputeUnits"))
    return out


def main():
    d = gmd.Daemon(TMP)
    d.start()
    mgr = d.mgr()
    # Our own lease (to check the mapping while the daemon is dead) ...
    path, fd = mgr.Attach({"name": "keeper", "weight": dbus.UInt32(100),
                           "min_cus": dbus.UInt32(10)})
    lease = gmlease.Lease(fd.take())
    buf, off = lease.buf_alloc(1 << 16)
    m = lease.map(1 << 16, off)
    m[0:8] = b"survives"
    # ... and two tenant processes, one of another uid.
    a = gmd.Tenant("proc-a", "weight=200")
    b = gmd.Tenant("proc-b", "weight=100", user=65534)
    ok = wait_until(lambda: (lease.ack_pending(0.05) or True) and
                    lease.cus() == 16, 10)
    check(ok, "three tenants share 64 CUs 100:200:100 -> 16:32:16",
          "keeper has %d" % lease.cus())
    before = snapshot(d)
    gen_before = lease.partitions()

    rc = d.kill9()
    check(rc == -9, "gpumuxd killed with SIGKILL", "rc %s" % rc)
    check(lease.info()["tenant_id"] > 0, "the lease answers while the "
          "daemon is dead")
    check(m[0:8] == b"survives", "the mapping holds its data while the "
          "daemon is dead")
    m[8:12] = b"more"
    check(a.proc.poll() is None and b.proc.poll() is None,
          "tenant processes run on")
    check(lease.partitions() == gen_before, "partitions unchanged while "
          "the daemon is dead")

    d.start()
    check(d.prop(gmd.PATH, "Manager", "Adopted") == 3,
          "the restarted daemon adopted 3 tenants",
          "Adopted=%s" % d.prop(gmd.PATH, "Manager", "Adopted"))
    after = snapshot(d)
    check(set(after) == set(before), "the same tenants, by name",
          "%s vs %s" % (sorted(after), sorted(before)))
    for name in before:
        if name not in after:
            continue
        check(after[name][:3] == before[name][:3],
              "%s: id, owner uid and weight kept" % name,
              "%s vs %s" % (after[name][:3], before[name][:3]))
        check(after[name][3:5] == before[name][3:5],
              "%s: partition and generation unchanged (no CU moved)" % name,
              "%s vs %s" % (after[name][3:5], before[name][3:5]))
    check(after.get("keeper", (0,) * 6)[5] == 10, "keeper: min_cus kept")
    check(m[0:12] == b"survivesmore", "the mapping still holds its data")

    a.kill()
    check(wait_until(lambda: "proc-a" not in d.tenants(), 10),
          "a tenant exiting after the restart is noticed")
    ok = wait_until(lambda: (lease.ack_pending(0.05) or True) and
                    lease.cus() == 32, 10)
    check(ok, "and its CUs are re-balanced (32:32)",
          "keeper has %d" % lease.cus())
    # A second kill -9 while a shrink is pending: still adoptable.
    mgr = d.mgr()
    mgr.SetWeight(path, dbus.UInt32(1))
    d.kill9()
    d.start()
    check(d.prop(gmd.PATH, "Manager", "Adopted") == 2,
          "adopted again after a kill in the middle of a re-balance")
    check(d.prop(path, "Tenant", "Weight") == 1, "the new weight was kept")
    b.kill()
    m.close()
    lease.close()
    check(wait_until(lambda: not d.tenants(), 10), "all gone at the end",
          repr(d.tenants()))
    check(d.stop() == 0, "clean stop")
    gmd.finish()


if __name__ == "__main__":
    gmd.run(main, "test-restart")
