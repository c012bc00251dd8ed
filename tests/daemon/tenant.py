#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A well-behaved tenant for the tests: attaches over D-Bus (python3-dbus,
independent of the C code), maps a pinned buffer and fills it, then
acknowledges every shrink until killed.

  tenant.py NAME [KEY=VALUE ...]      options: weight=, min_cus=, max_cus=,
                                      gpu=, pinned_quota= (integers)
                                      noack=1: never acknowledge

Prints "ATTACHED <object path> <tenant id> <buf id>" once attached, then
nothing; exits 0 on SIGTERM."""

import os
import signal
import sys

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmlease  # noqa: E402

TYPES = {"weight": dbus.UInt32, "min_cus": dbus.UInt32,
         "max_cus": dbus.UInt32, "gpu": dbus.UInt32,
         "pinned_quota": dbus.UInt64}


def main():
    name = sys.argv[1]
    opts = {"name": dbus.String(name)}
    noack = False
    for a in sys.argv[2:]:
        k, v = a.split("=", 1)
        if k == "noack":
            noack = v == "1"
        else:
            opts[k] = TYPES[k](int(v))
    bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    mgr = dbus.Interface(bus.get_object("org.gpumux.Scheduler1",
                                        "/org/gpumux/Scheduler1"),
                         "org.gpumux.Scheduler1.Manager")
    path, fd = mgr.Attach(dbus.Dictionary(opts, signature="sv"))
    lease = gmlease.Lease(fd.take())
    tid = lease.info()["tenant_id"]
    buf_id, off = lease.buf_alloc(1 << 16)
    m = lease.map(1 << 16, off)
    m[:len(name)] = name.encode()
    bus.close()  # the lease, not the bus connection, is what counts
    print("ATTACHED %s %d %d" % (path, tid, buf_id), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        if noack:
            lease.events(1.0)
        else:
            lease.ack_pending(0.05)


if __name__ == "__main__":
    main()
