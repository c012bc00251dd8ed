#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The admin methods ask polkit, for non-root callers: with a stand-in for
polkitd on the test bus (fake-polkit.py), a yes lets the call through (it
acts and replies), a no or an authentication challenge is AccessDenied and
changes nothing; polkit is asked about the right action for the caller's
own bus name; root is never asked."""

import os
import subprocess
import sys

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmd  # noqa: E402
from gmd import check, result, wait_until, ERR  # noqa: E402

TMP = "/tmp/test-polkit"


def main():
    os.makedirs(TMP, exist_ok=True)
    mode, log = os.path.join(TMP, "mode"), os.path.join(TMP, "log")
    with open(mode, "w") as f:
        f.write("yes")
    open(log, "w").close()
    fake = subprocess.Popen([sys.executable, os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fake-polkit.py"),
        mode, log], stdout=subprocess.PIPE, text=True)
    if fake.stdout.readline().strip() != "READY":
        result(False, "the stand-in polkit starts", "it did not")
        gmd.finish()
    d = gmd.Daemon(TMP)
    try:
        d.start()
        mgr = d.mgr()
        t = gmd.Tenant("pk-a")

        name, out, msg = gmd.as_nobody(path=t.path, code="m.SetWeight(P, dbus.UInt32(250))")
        check(out == "OK", "polkit yes: non-root SetWeight goes through",
              "%s %s" % (out, msg))
        check(d.prop(t.path, "Tenant", "Weight") == 250,
              "and the weight changed")
        with open(log) as f:
            asked = f.read().split()
        check(asked[:3] == ["org.gpumux.Scheduler1.manage",
                            "system-bus-name", name],
              "polkit was asked about org.gpumux.Scheduler1.manage for "
              "the caller's bus name", "%s (caller %s)" % (asked, name))
        name, out, msg = gmd.as_nobody(path=t.path, code=
            "m.Attach(dbus.Dictionary({'name': 'big', 'weight': "
            "dbus.UInt32(500)}, signature='sv'))")
        check(out == "OK", "polkit yes: non-root Attach with weight 500",
              "%s %s" % (out, msg))
        name, out, msg = gmd.as_nobody(path=t.path, code="m.Fence(P, True)")
        check(out == "OK" and wait_until(
            lambda: d.prop(t.path, "Tenant", "Fenced"), 5),
            "polkit yes: non-root Fence acts", "%s %s" % (out, msg))
        name, out, msg = gmd.as_nobody(path=t.path, code="m.Fence(P, False)")
        check(out == "OK", "polkit yes: non-root unfence", out)

        with open(mode, "w") as f:
            f.write("no")
        name, out, msg = gmd.as_nobody(path=t.path, code="m.SetWeight(P, dbus.UInt32(7))")
        check(out == ERR + "AccessDenied", "polkit no: AccessDenied",
              "%s %s" % (out, msg))
        check(d.prop(t.path, "Tenant", "Weight") == 250,
              "polkit no: nothing changed")
        with open(mode, "w") as f:
            f.write("challenge")
        name, out, msg = gmd.as_nobody(path=t.path, code="m.SetLimits(P, dbus.UInt32(0), "
                                   "dbus.UInt32(5))")
        check(out == ERR + "AccessDenied" and "authentication" in msg,
              "polkit challenge: AccessDenied, saying authentication is "
              "required", "%s %s" % (out, msg))
        n = len(open(log).read().splitlines())
        mgr.SetWeight(t.path, dbus.UInt32(100))
        check(len(open(log).read().splitlines()) == n,
              "root is not asked about")
        # A tenant that vanished while polkit was being asked: the second
        # call finds it gone and says so.
        with open(mode, "w") as f:
            f.write("yes")
        t.kill()
        wait_until(lambda: t.path not in [x[1] for x in d.tenants().values()])
        name, out, msg = gmd.as_nobody(path=t.path, code="m.SetWeight(P, dbus.UInt32(9))")
        check(out == ERR + "NoSuchTenant", "a gone tenant: NoSuchTenant",
              out)
        check(d.proc.poll() is None, "the daemon is alive")
        check(d.stop() == 0, "clean stop")
    finally:
        fake.kill()
        fake.wait()
    gmd.finish()


if __name__ == "__main__":
    gmd.run(main, "test-polkit")
