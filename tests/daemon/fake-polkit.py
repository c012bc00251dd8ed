#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in for polkitd on the test bus, for test-polkit.py: serves
org.freedesktop.PolicyKit1.Authority.CheckAuthorization and answers what
the file MODE says ("yes", "no" or "challenge"), logging each question
(action, subject kind, subject bus name, flags) as a line of the file LOG.

  fake-polkit.py MODE LOG"""

import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

import os

MODE, LOG = sys.argv[1], sys.argv[2]


class Authority(dbus.service.Object):
    @dbus.service.method("org.freedesktop.PolicyKit1.Authority",
                         in_signature="(sa{sv})sa{ss}us",
                         out_signature="(bba{ss})")
    def CheckAuthorization(self, subject, action, details, flags, cancel):
        with open(MODE) as f:
            mode = f.read().strip()
        with open(LOG, "a") as f:
            f.write("%s %s %s %d\n" % (action, subject[0],
                                       subject[1].get("name", "-"), flags))
        return (mode == "yes", mode == "challenge", {})


DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
name = dbus.service.BusName("org.freedesktop.PolicyKit1", bus)
Authority(bus, "/org/freedesktop/PolicyKit1/Authority")
print("READY", flush=True)
GLib.MainLoop().run()
