#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""gpumuxd over a real bus, with python3-dbus as an independent client:
attach and detach, the lease works (query, mmap), weights and limits,
SetPartition, Fence, a killed tenant triggers TenantGone and a re-balance,
the introspection matches the XML contract, bad input gets named errors,
non-root callers are refused the admin methods."""

import os
import sys
import xml.etree.ElementTree as ET

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gmd  # noqa: E402
from gmd import check, expect_error, wait_until, ERR  # noqa: E402
import gmlease  # noqa: E402

from dbus.mainloop.glib import DBusGMainLoop  # noqa: E402

TMP = "/tmp/test-dbus"


def members(xml_text, iface):
    """The methods, properties and signals of iface, annotations and
    comments left out: what the contract fixes."""
    root = ET.fromstring(xml_text)
    for i in root.iter("interface"):
        if i.get("name") != iface:
            continue
        out = set()
        for m in i:
            if m.tag == "method":
                args = tuple((a.get("name"), a.get("type"),
                              a.get("direction", "in"))
                             for a in m.iter("arg"))
                out.add(("method", m.get("name"), args))
            elif m.tag == "signal":
                args = tuple((a.get("name"), a.get("type"))
                             for a in m.iter("arg"))
                out.add(("signal", m.get("name"), args))
            elif m.tag == "property":
                out.add(("property", m.get("name"), m.get("type"),
                         m.get("access")))
        return out
    return None


def test_introspection(d, tpath, gpath):
    with open(os.path.join(gmd.REPO, "daemon/org.gpumux.Scheduler1.xml")) as f:
        contract = f.read()
    for path, iface in ((gmd.PATH, "Manager"), (tpath, "Tenant"),
                        (gpath, "GPU")):
        live = d.obj(path).Introspect(
            dbus_interface="org.freedesktop.DBus.Introspectable")
        want = members(contract, gmd.NAME + "." + iface)
        got = members(live, gmd.NAME + "." + iface)
        check(want and got == want, "introspection of %s matches the XML" %
              iface, "only live: %s; only in the XML: %s" %
              (sorted(got - want) if got else None,
               sorted(want - got) if got else None))


def nobody(code):
    """What uid 65534 gets running code: "OK" or an error name."""
    return gmd.as_nobody(code)[1]


def main():
    DBusGMainLoop(set_as_default=True)
    d = gmd.Daemon(TMP)
    d.start()
    mgr = d.mgr()
    props = lambda n: d.prop(gmd.PATH, "Manager", n)  # noqa: E731

    check(props("Version") == "0.1.0", "Version property")
    check(props("Policy") == "fairshare", "Policy property")
    check(props("NGPUs") >= 1, "a virtual GPU is registered")
    gpus = mgr.ListGPUs()
    g1 = [g for g in gpus if str(g[2]) == "virtual:virtual0"]
    check(g1 and g1[0][3] == 64, "ListGPUs shows virtual:virtual0 with 64 CUs",
          repr(gpus))
    gpu_id = int(g1[0][0]) if g1 else 1

    # ---- attach from this process; the lease works
    path, fd = mgr.Attach({"name": "py-a", "weight": dbus.UInt32(100)})
    lease = gmlease.Lease(fd.take())
    info = lease.info()
    check(info["file_kind"] == gmlease.FILE_TENANT,
          "the lease is a tenant file (GET_INFO)")
    check(path.endswith("/tenant/%d" % info["tenant_id"]),
          "the object path names the tenant id", "%s vs %d" %
          (path, info["tenant_id"]))
    check(wait_until(lambda: lease.cus() == 64, 5),
          "a lone tenant gets the whole GPU", "has %d CUs" % lease.cus())
    buf_id, off = lease.buf_alloc(1 << 20)
    m = lease.map(1 << 20, off)
    m[0:5] = b"hello"
    m[(1 << 20) - 1] = 7
    check(m[0:5] == b"hello" and m[(1 << 20) - 1] == 7,
          "a pinned buffer maps and holds data")
    check(wait_until(lambda: d.prop(path, "Tenant", "PinnedBytes") >= 1 << 20,
                     5), "PinnedBytes counts the buffer")
    check(d.prop(path, "Tenant", "UID") == os.getuid(),
          "Tenant UID is the caller's")
    check(d.prop(path, "Tenant", "PID") == os.getpid(),
          "Tenant PID is the caller's")
    test_introspection(d, path, str(g1[0][1]) if g1 else gmd.PATH + "/gpu/1")

    # ---- a second tenant (a process of its own) with weight 300: 1:3
    b = gmd.Tenant("py-b", "weight=300")
    ok = wait_until(lambda: (lease.ack_pending(0.05) or True) and
                    lease.cus() == 16 and
                    d.prop(b.path, "Tenant", "ComputeUnits") == 48, 10)
    check(ok, "weights 100:300 share 64 CUs 16:48 once the first acks",
          "a=%d b=%d" % (lease.cus(),
                         d.prop(b.path, "Tenant", "ComputeUnits")))
    ta = set(gmlease.bytes_bits(d.prop(path, "Tenant", "ActiveMask")))
    tb = set(gmlease.bytes_bits(d.prop(b.path, "Tenant", "ActiveMask")))
    check(not ta & tb, "partitions do not overlap")
    check(ta | tb == set(range(64)), "together they cover the GPU")
    check(sorted(ta) == list(range(min(ta), max(ta) + 1)) if ta else False,
          "a tenant's CUs are one contiguous range")
    t = d.tenants()
    check(set(t) >= {"py-a", "py-b"}, "ListTenants lists both", repr(t))

    # ---- signals: kill b, TenantGone(exited), a grows back
    from gi.repository import GLib
    got = []
    d.bus.add_signal_receiver(lambda *a: got.append(("gone",) + a),
                              "TenantGone", gmd.MGR, gmd.NAME, gmd.PATH)
    d.bus.add_signal_receiver(lambda *a: got.append(("part",) + a),
                              "PartitionChanged", gmd.MGR, gmd.NAME,
                              gmd.PATH)
    loop = GLib.MainContext.default()
    b.kill()

    def pump():
        while loop.iteration(False):
            pass
        lease.ack_pending(0.02)
        return any(g[0] == "gone" and str(g[1]) == b.path for g in got) and \
            any(g[0] == "part" and str(g[1]) == path and
                len(gmlease.bytes_bits(g[5])) == 64 for g in got) and \
            lease.cus() == 64

    check(wait_until(pump, 10), "killing a tenant: TenantGone, and the "
          "other gets its CUs back", repr(got[-3:]))
    gone = [g for g in got if g[0] == "gone" and str(g[1]) == b.path]
    check(gone and str(gone[0][3]) == "exited", "TenantGone reason 'exited'",
          repr(gone))
    check(any(g[0] == "part" and str(g[1]) == path for g in got),
          "PartitionChanged for the tenant that grew")
    check(props("TenantsGone") >= 1, "TenantsGone counter")

    # ---- admin methods as root
    c = gmd.Tenant("py-c")
    wait_until(lambda: (lease.ack_pending(0.05) or True) and
               lease.cus() == 32, 10)
    mgr.SetWeight(c.path, dbus.UInt32(300))
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     lease.cus() == 16, 10),
          "SetWeight re-balances (1:3)", "a has %d" % lease.cus())
    check(d.prop(c.path, "Tenant", "Weight") == 300, "Weight property")
    mgr.SetLimits(path, dbus.UInt32(0), dbus.UInt32(8))
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     lease.cus() == 8, 10), "SetLimits caps a tenant",
          "a has %d" % lease.cus())
    mgr.SetLimits(path, dbus.UInt32(40), dbus.UInt32(0))
    check(wait_until(lambda: lease.cus() == 40, 10),
          "SetLimits minimum is guaranteed", "a has %d" % lease.cus())
    expect_error(lambda: mgr.SetLimits(c.path, dbus.UInt32(30),
                                       dbus.UInt32(0)),
                 "SetLimits beyond what is left: NoCapacity",
                 ERR + "NoCapacity")
    mgr.SetLimits(path, dbus.UInt32(0), dbus.UInt32(0))
    pin = bytes([0xff, 0x00, 0, 0, 0, 0, 0, 0x80])  # CUs 0-7 and 63
    mgr.SetPartition(c.path, dbus.UInt32(gpu_id), dbus.ByteArray(pin))
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     gmlease.bytes_bits(
                         d.prop(c.path, "Tenant", "ActiveMask")) ==
                     list(range(8)) + [63], 10),
          "SetPartition pins exactly the mask")
    check(d.prop(c.path, "Tenant", "Pinned"), "Pinned property")
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     lease.cus() == 55, 10),
          "the policy shares the CUs left", "a has %d" % lease.cus())
    mgr.SetPartition(c.path, dbus.UInt32(0), dbus.ByteArray(b""))
    check(not d.prop(c.path, "Tenant", "Pinned"),
          "an empty mask gives the tenant back to the policy")
    mgr.Fence(c.path, True)
    check(wait_until(lambda: d.prop(c.path, "Tenant", "Fenced") and
                     d.prop(c.path, "Tenant", "ComputeUnits") == 0, 5),
          "Fence takes every CU")
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     lease.cus() == 64, 10),
          "the others get the fenced tenant's CUs")
    mgr.Fence(c.path, False)
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     d.prop(c.path, "Tenant", "ComputeUnits") > 0, 10),
          "lifting the fence gives CUs back")
    # Minimums are guarded on every path: pinning a whole GPU under a
    # tenant's minimum, and lifting a fence whose minimum no longer fits.
    mgr.SetLimits(path, dbus.UInt32(40), dbus.UInt32(0))
    expect_error(lambda: mgr.SetPartition(c.path, dbus.UInt32(gpu_id),
                                          dbus.ByteArray(b"\xff" * 8)),
                 "pinning the whole GPU under another's minimum: "
                 "NoCapacity", ERR + "NoCapacity")
    mgr.Fence(c.path, True)
    mgr.SetLimits(c.path, dbus.UInt32(30), dbus.UInt32(0))
    expect_error(lambda: mgr.Fence(c.path, False),
                 "lifting a fence whose minimum no longer fits: NoCapacity",
                 ERR + "NoCapacity")
    mgr.SetLimits(c.path, dbus.UInt32(0), dbus.UInt32(0))
    mgr.Fence(c.path, False)
    mgr.SetLimits(path, dbus.UInt32(0), dbus.UInt32(0))
    check(wait_until(lambda: (lease.ack_pending(0.05) or True) and
                     d.prop(c.path, "Tenant", "ComputeUnits") == 48 and
                     lease.cus() == 16, 10),
          "back to 16:48 after the limits are lifted",
          "a=%d c=%d" % (lease.cus(),
                         d.prop(c.path, "Tenant", "ComputeUnits")))
    mgr.ReportLoad(path, {"running": dbus.UInt32(3),
                          "kv_blocks_used": dbus.UInt32(10),
                          "kv_blocks_total": dbus.UInt32(100),
                          "tokens_per_s": dbus.Double(1234.5)})
    load = d.prop(path, "Tenant", "Load")
    check(load.get("running") == 3 and load.get("tokens_per_s") == 1234.5,
          "ReportLoad shows in the Load property", repr(load))

    # ---- bad input: named errors, never a crash
    E = ERR
    IA = "org.freedesktop.DBus.Error.InvalidArgs"
    attach = lambda o: mgr.Attach(dbus.Dictionary(o, signature="sv"))  # noqa
    expect_error(lambda: attach({"bogus": dbus.UInt32(1)}),
                 "unknown option: InvalidOption", E + "InvalidOption")
    expect_error(lambda: attach({"weight": dbus.String("heavy")}),
                 "ill-typed option: InvalidOption", E + "InvalidOption")
    expect_error(lambda: attach({"weight": dbus.Int32(5)}),
                 "option of a near type (i for u): InvalidOption",
                 E + "InvalidOption")
    expect_error(lambda: attach({"weight": dbus.UInt32(0)}),
                 "weight 0: InvalidValue", E + "InvalidValue")
    expect_error(lambda: attach({"weight": dbus.UInt32(70000)}),
                 "weight 70000: InvalidValue", E + "InvalidValue")
    expect_error(lambda: attach({"min_cus": dbus.UInt32(9),
                                 "max_cus": dbus.UInt32(4)}),
                 "min > max: InvalidValue", E + "InvalidValue")
    expect_error(lambda: attach({"pinned_quota": dbus.UInt64(1 << 63)}),
                 "pinned_quota 2^63: InvalidValue", E + "InvalidValue")
    expect_error(lambda: attach({"gpu": dbus.UInt32(999)}),
                 "unknown gpu: NoSuchGPU", E + "NoSuchGPU")
    expect_error(lambda: attach({"min_cus": dbus.UInt32(65)}),
                 "min_cus above the GPU: NoCapacity", E + "NoCapacity")
    expect_error(lambda: attach({"name": dbus.String("x" * 40)}),
                 "name too long: InvalidValue", E + "InvalidValue")
    expect_error(lambda: attach({"name": dbus.String("bad\nname")}),
                 "name with a control character: InvalidValue",
                 E + "InvalidValue")
    expect_error(lambda: d.obj().get_dbus_method("Attach", gmd.MGR)(
        "not a dict", signature="s"),
        "wrong signature: InvalidArgs", IA)
    expect_error(lambda: d.obj().get_dbus_method("SetWeight", gmd.MGR)(
        dbus.ObjectPath(c.path), signature="o"),
        "missing argument: InvalidArgs", IA)
    expect_error(lambda: mgr.Detach(dbus.ObjectPath(gmd.PATH + "/tenant/999")),
                 "Detach of a path that does not exist: NoSuchTenant",
                 E + "NoSuchTenant")
    expect_error(lambda: mgr.SetWeight(dbus.ObjectPath("/nope"),
                                       dbus.UInt32(5)),
                 "SetWeight on a foreign path: NoSuchTenant",
                 E + "NoSuchTenant")
    expect_error(lambda: mgr.SetWeight(c.path, dbus.UInt32(0)),
                 "SetWeight 0: InvalidValue", E + "InvalidValue")
    expect_error(lambda: mgr.SetPartition(c.path, dbus.UInt32(gpu_id),
                                          dbus.ByteArray(bytes(9))
                                          + b"\x01"),
                 "SetPartition past the GPU's CUs: InvalidValue",
                 E + "InvalidValue")
    expect_error(lambda: mgr.SetPartition(c.path, dbus.UInt32(gpu_id),
                                          dbus.ByteArray(bytes(200))),
                 "SetPartition mask longer than 1024 CUs: InvalidValue",
                 E + "InvalidValue")
    expect_error(lambda: mgr.SetPartition(c.path, dbus.UInt32(77),
                                          dbus.ByteArray(b"\x01")),
                 "SetPartition on an unknown GPU: NoSuchGPU",
                 E + "NoSuchGPU")
    expect_error(lambda: mgr.ReportLoad(path, {"running": dbus.String("x")}),
                 "ReportLoad ill-typed: InvalidOption", E + "InvalidOption")
    expect_error(lambda: mgr.ReportLoad(path, {
        "kv_blocks_used": dbus.UInt32(5), "kv_blocks_total": dbus.UInt32(1)}),
        "ReportLoad used > total: InvalidValue", E + "InvalidValue")
    expect_error(lambda: d.prop(gmd.PATH + "/tenant/999", "Tenant", "Name"),
                 "property of a tenant that does not exist",
                 "org.freedesktop.DBus.Error.UnknownObject")
    check(d.proc.poll() is None, "the daemon survived the bad input")

    # ---- a non-root caller: attach is open, admin methods are not
    out = nobody("p,fd=m.Attach(dbus.Dictionary({'name':'nobody'}, "
                 "signature='sv'))")
    check(out == "OK", "non-root may attach", out)
    for call, name in (
            ("m.SetWeight(P, dbus.UInt32(5))", "SetWeight"),
            ("m.SetLimits(P, dbus.UInt32(0), dbus.UInt32(5))", "SetLimits"),
            ("m.SetPartition(P, dbus.UInt32(%d), dbus.ByteArray(b'\\x01'))"
             % gpu_id,
             "SetPartition"),
            ("m.Fence(P, True)", "Fence"),
            ("m.Detach(P)", "Detach of another's tenant")):
        out = nobody("P = dbus.ObjectPath('%s')\n" % c.path + call)
        check(out == ERR + "AccessDenied",
              "non-root %s: AccessDenied (no polkit on this bus)" % name, out)
    out = nobody("m.ReportLoad(dbus.ObjectPath('%s'), dbus.Dictionary("
                 "{'running': dbus.UInt32(1)}, signature='sv'))" % c.path)
    check(out == ERR + "NotOwner", "non-root ReportLoad for another's "
          "tenant: NotOwner", out)
    for opts, what in (("'weight': dbus.UInt32(200)", "weight above 100"),
                       ("'min_cus': dbus.UInt32(1)", "a minimum")):
        out = nobody("p,fd=m.Attach(dbus.Dictionary({'name':'greedy', %s}, "
                     "signature='sv'))" % opts)
        check(out == ERR + "AccessDenied", "non-root Attach with %s: "
              "AccessDenied (no polkit)" % what, out)
    out = nobody("l=[m.Attach(dbus.Dictionary({'name':'n%d' % i}, "
                 "signature='sv')) for i in range(16)]\n"
                 "m.Attach(dbus.Dictionary({'name':'n16'}, signature='sv'))")
    check(out == ERR + "TooManyTenants", "a non-root uid gets 16 tenants "
          "at most (max_tenants_per_uid)", out)
    out = nobody("p,fd=m.Attach(dbus.Dictionary({'name':'nobody2'}, "
                 "signature='sv'))\nm.Detach(p)")
    check(out == "OK", "non-root may Detach its own tenant", out)
    check(not d.prop(c.path, "Tenant", "Fenced") and
          d.prop(c.path, "Tenant", "Weight") == 300,
          "refused calls changed nothing")

    # ---- Detach: TenantGone(detached); the lease loses its CUs
    got.clear()
    mgr.Detach(path)

    def gone_detached():
        while loop.iteration(False):
            pass
        return [g for g in got if g[0] == "gone" and str(g[1]) == path]
    gd = wait_until(gone_detached, 5)
    check(gd and str(gd[0][3]) == "detached", "Detach: TenantGone "
          "reason 'detached'", repr(gd))
    check(wait_until(lambda: lease.cus() == 0, 5),
          "a detached lease holds no CUs")
    expect_error(lambda: d.prop(path, "Tenant", "Name"),
                 "a detached tenant's object is gone",
                 "org.freedesktop.DBus.Error.UnknownObject")
    m.close()
    lease.close()
    c.kill()
    check(wait_until(lambda: not d.tenants(), 10),
          "no tenant is left once every lease is closed",
          repr(d.tenants()))
    rc = d.stop()
    check(rc == 0, "SIGTERM: the daemon exits 0", "exit %s" % rc)
    gmd.finish()


if __name__ == "__main__":
    gmd.run(main, "test-dbus")
