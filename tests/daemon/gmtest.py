# SPDX-License-Identifier: GPL-2.0
"""Helpers for the daemon's python tests, tests/daemon/test-*.py.

They run in the test VM (make vm-daemon-check) with /usr/bin/python3
(Debian's python3-dbus loads with that one only), chrooted into the host's
root, started by run-suite.sh, which documents the environment
(GPUMUX_REPO, GPUMUX_BUILD, GPUMUXD, GPUMUXCTL, GPUMUX_ENGINE, GMTEST_BUS,
GMTEST_TMP: this test's scratch directory, also its working directory).
The test's directory is on sys.path, so a test starts with

    import gmtest
    t = gmtest.Test()                   # named after the file
    bus = gmtest.bus()                  # a dbus.bus.BusConnection
    d = gmtest.Daemon()
    if not d.start():
        t.skip_all("...")               # or t.fail(...)
    mgr = gmtest.manager(bus)           # dbus.Interface of the Manager
    tenant, lease = mgr.Attach({"name": "demo"})
    fd = lease.take()
    t.ok(fd >= 0, "Attach returns a lease fd")
    rc = d.stop()                       # SIGTERM: exit status
    t.finish()

Results print "KIND: <test name>: NAME[: WHY]":
    t.pass_(name), t.fail(name, why=""), t.skip(name, why="")
    t.ok(cond, name, why="")    pass or fail on cond; returns cond
    t.skip_all(why)             the whole test cannot run: exit 77
    t.finish()                  exit 1 when anything failed, else 0

The daemon (Daemon(conf_text=None, state_dir=None)): start(*args) runs
$GPUMUXD --config CONF --state-dir STATE *args (args last, so they
override) with its output in GMTEST_TMP/gpumuxd.log, waits until it owns
org.gpumux.Scheduler1 and returns True (False and the log's end printed
when it dies or does not in START_TIMEOUT s); .pid, .proc; stop(timeout)
sends SIGTERM and returns the exit status (124 when it had to be killed);
kill9() is a crash; the state directory is kept across starts (adoption).
A daemon still running at exit is stopped.

Running as a user who is not root (uid/gid 65534, no supplementary groups):
    as_user(argv) -> the argv to run, prefixed with setpriv;
    run_as_user(argv, **kw) -> subprocess.run(as_user(argv), **kw);
    e.g. run_as_user(["/usr/bin/python3", "-c", code], capture_output=True)
"""

import atexit
import os
import signal
import subprocess
import sys
import time

import dbus

NAME = "org.gpumux.Scheduler1"
PATH = "/org/gpumux/Scheduler1"
MANAGER = NAME + ".Manager"
GPU = NAME + ".GPU"
TENANT = NAME + ".Tenant"
ERROR = NAME + ".Error."
NOBODY = 65534
START_TIMEOUT = float(os.environ.get("GMTEST_START_TIMEOUT", "30"))

BUS_ADDRESS = os.environ.get("GMTEST_BUS") or os.environ.get(
    "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/gpumux-test/bus")
os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = BUS_ADDRESS
_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("GPUMUX_BUILD", os.path.join(_REPO, "build"))
GPUMUXD = os.environ.get("GPUMUXD", os.path.join(BUILD, "daemon", "gpumuxd"))
GPUMUXCTL = os.environ.get("GPUMUXCTL",
                           os.path.join(BUILD, "daemon", "gpumuxctl"))
ENGINE = os.environ.get("GPUMUX_ENGINE",
                        os.path.join(BUILD, "engine", "gpumux-engine"))
TMP = os.environ.get("GMTEST_TMP") or os.getcwd()
TEST_NAME = os.environ.get("GMTEST_NAME") or os.path.splitext(
    os.path.basename(sys.argv[0]))[0]


class Test:
    """Results of one test program."""

    def __init__(self, name=None):
        self.name = name or TEST_NAME
        self.fails = 0

    def _line(self, kind, what, why=""):
        print(f"{kind}: {self.name}: {what}" + (f": {why}" if why else ""),
              flush=True)

    def pass_(self, what):
        self._line("PASS", what)

    def fail(self, what, why=""):
        self.fails += 1
        self._line("FAIL", what, why)

    def skip(self, what, why=""):
        self._line("SKIP", what, why)

    def ok(self, cond, what, why=""):
        if cond:
            self.pass_(what)
        else:
            self.fail(what, why)
        return bool(cond)

    def skip_all(self, why):
        self._line("SKIP", why)
        sys.exit(77)

    def finish(self):
        sys.exit(1 if self.fails else 0)


def bus():
    """A new connection to the private bus."""
    return dbus.bus.BusConnection(BUS_ADDRESS)


def manager(conn=None):
    """The daemon's Manager interface."""
    conn = conn or bus()
    return dbus.Interface(conn.get_object(NAME, PATH), MANAGER)


def has_owner(name, conn=None):
    conn = conn or bus()
    return bool(conn.name_has_owner(name))


def wait_name(name, timeout=30.0, conn=None, proc=None):
    """Wait until NAME has an owner; give up when PROC (a Popen) exits."""
    conn = conn or bus()
    end = time.monotonic() + timeout
    while not conn.name_has_owner(name):
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def wait_no_name(name, timeout=30.0, conn=None):
    conn = conn or bus()
    end = time.monotonic() + timeout
    while conn.name_has_owner(name):
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def name_owner_pid(name, conn=None):
    conn = conn or bus()
    dbo = conn.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus")
    return int(dbus.Interface(dbo, "org.freedesktop.DBus")
               .GetConnectionUnixProcessID(name))


def error_name(exc):
    """The D-Bus error name of a dbus.exceptions.DBusException."""
    return exc.get_dbus_name()


def as_user(argv, uid=NOBODY, gid=NOBODY):
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            "--"] + list(argv)


def run_as_user(argv, **kw):
    return subprocess.run(as_user(argv), **kw)


_daemons = []


class Daemon:
    """One gpumuxd, started with a test configuration."""

    def __init__(self, conf_text=None, state_dir=None):
        self.conf = os.path.join(TMP, "gpumuxd.conf")
        self.state_dir = state_dir or os.path.join(TMP, "state")
        self.log = os.path.join(TMP, "gpumuxd.log")
        self.proc = None
        if conf_text is not None or not os.path.exists(self.conf):
            with open(self.conf, "w") as f:
                f.write(conf_text if conf_text is not None
                        else "# gmtest: every key at its default\n")
        _daemons.append(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, *args):
        if not os.access(GPUMUXD, os.X_OK):
            print(f"Daemon.start: no {GPUMUXD} (make gpumuxd)", flush=True)
            return False
        os.makedirs(self.state_dir, exist_ok=True)
        with open(self.log, "a") as log:
            log.write(f"--- {time.strftime('%T')} gpumuxd {' '.join(args)}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [GPUMUXD, "--config", self.conf, "--state-dir",
                 self.state_dir] + list(args),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if wait_name(NAME, START_TIMEOUT, proc=self.proc):
            return True
        print(f"Daemon.start: {NAME} not on the bus; the log's end:",
              flush=True)
        self.show_log()
        self.kill9()
        return False

    def stop(self, timeout=20.0):
        """SIGTERM; the exit status (124 when it had to be killed)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = 124
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def show_log(self, lines=20):
        try:
            with open(self.log) as f:
                sys.stdout.write("".join(f.readlines()[-lines:]))
                sys.stdout.flush()
        except OSError:
            pass


@atexit.register
def _cleanup():
    for d in _daemons:
        if d.alive():
            print("(stopping the gpumuxd the test left running)", flush=True)
            d.stop(5)
