# SPDX-License-Identifier: GPL-2.0
"""Running gpumuxd for a test, from Python: a config, a state directory, the
process, the bus.  Results are lines "PASS: name" / "FAIL: name: why" on
stdout (what tests/daemon/run-suite.sh counts); exit status 0 when all
passed, 1 otherwise."""

import os
import signal
import subprocess
import sys
import time
import traceback

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("GPUMUX_REPO", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("GPUMUX_BUILD", os.path.join(REPO, "build"))
GPUMUXD = os.environ.get("GPUMUXD", os.path.join(BUILD, "daemon/gpumuxd"))
NAME = "org.gpumux.Scheduler1"
PATH = "/org/gpumux/Scheduler1"
MGR = NAME + ".Manager"
ERR = NAME + ".Error."
# Every test uses the same virtual GPU: the module keeps GPUs across
# daemons, and a restarted daemon adopts them.
CONFIG = """[daemon]
drm = no
ack_deadline_ms = %(deadline)d
rebalance_delay_ms = 0
default_pinned_quota = 64M
[gpu.virtual0]
cus = 64
vram = 16G
"""

failed = 0


def result(ok, name, why=""):
    global failed
    if ok:
        print("PASS: %s" % name, flush=True)
    else:
        failed += 1
        print("FAIL: %s: %s" % (name, why), flush=True)
    return ok


def check(cond, name, why="assertion failed"):
    return result(bool(cond), name, "" if cond else why)


def expect_error(fn, name, want):
    """fn() must raise a D-Bus error named want."""
    try:
        fn()
    except dbus.DBusException as e:
        return check(e.get_dbus_name() == want, name,
                     "got %s (%s), want %s" % (e.get_dbus_name(),
                                               e.get_dbus_message(), want))
    return result(False, name, "no error, want %s" % want)


def wait_until(fn, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class Daemon:
    """gpumuxd on the bus in DBUS_SYSTEM_BUS_ADDRESS."""

    def __init__(self, tmp, deadline=5000, binary=None):
        self.tmp = tmp
        self.binary = binary or GPUMUXD
        os.makedirs(tmp, exist_ok=True)
        self.conf = os.path.join(tmp, "gpumuxd.conf")
        self.state = os.path.join(tmp, "state")
        with open(self.conf, "w") as f:
            f.write(CONFIG % {"deadline": deadline})
        self.log = os.path.join(tmp, "gpumuxd.log")
        self.proc = None
        self.bus = dbus.bus.BusConnection(
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"])

    def start(self, *args):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.conf, "--state-dir", self.state,
             "--verbose"] + list(args),
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        ok = wait_until(lambda: self.proc.poll() is not None or
                        self.bus.name_has_owner(NAME), 30)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("gpumuxd did not start: " + self.tail())
        return self.proc.pid

    def tail(self, n=20):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, sig=signal.SIGTERM):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        if sig != signal.SIGKILL:
            wait_until(lambda: not self.bus.name_has_owner(NAME), 10)
        return rc

    def kill9(self):
        rc = self.stop(signal.SIGKILL)
        wait_until(lambda: not self.bus.name_has_owner(NAME), 10)
        return rc

    def obj(self, path=PATH):
        return self.bus.get_object(NAME, path)

    def mgr(self):
        return dbus.Interface(self.obj(), MGR)

    def prop(self, path, iface, name):
        return self.bus.get_object(NAME, path, introspect=False).Get(NAME + "." + iface, name,
                                  dbus_interface=dbus.PROPERTIES_IFACE)

    def tenants(self):
        """{name: (id, path, uid, pid, gpu, cus, fenced)}"""
        return {str(t[2]): (int(t[0]), str(t[1]), int(t[3]), int(t[4]),
                            int(t[5]), int(t[6]), bool(t[7]))
                for t in self.mgr().ListTenants()}


class Tenant:
    """A tenant process (tests/daemon/tenant.py): attaches and acks."""

    def __init__(self, name, *opts, user=None):
        cmd = [sys.executable, os.path.join(HERE, "tenant.py"), name]
        cmd += list(opts)
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                   "--clear-groups"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 4 or line[0] != "ATTACHED":
            err = self.proc.stderr.read() if self.proc.poll() is not None \
                else ""
            self.kill()
            raise RuntimeError("tenant %s did not attach: %s %s" %
                               (name, line, err.strip()[-300:]))
        self.path, self.id, self.buf = line[1], int(line[2]), int(line[3])
        self.name = name

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait()


NOBODY = 65534


def as_nobody(code, path=""):
    """Run python code as uid 65534 (no groups) against the bus, with m the
    Manager (no introspection) and P the object path path.  Returns (its
    unique bus name, "OK" or the D-Bus error name it got, the error's
    message); the message is also printed as a comment."""
    r = subprocess.run(
        ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
         "--clear-groups", sys.executable, "-c",
         "import dbus,os,sys\n"
         "b=dbus.bus.BusConnection(os.environ['DBUS_SYSTEM_BUS_ADDRESS'])\n"
         "print(b.get_unique_name(), flush=True)\n"
         "m=dbus.Interface(b.get_object('%s','%s', introspect=False),"
         "'%s')\n"
         "P=dbus.ObjectPath(sys.argv[1])\n"
         "try:\n" % (NAME, PATH, MGR)
         + "".join("    " + line + "\n" for line in code.splitlines()) +
         "    print('OK')\n"
         "except dbus.DBusException as e:\n"
         "    print(e.get_dbus_name()); print(e.get_dbus_message())\n",
         path or PATH], capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    if len(lines) < 2:
        lines = ["", (r.stderr.strip().splitlines() or ["no output"])[-1]]
    lines += [""]
    if lines[2]:
        print("# as uid %d: %s" % (NOBODY, lines[2]))
    return lines[0], lines[1], lines[2]


def finish():
    sys.exit(1 if failed else 0)


def run(main, name):
    """Runs a test's main() (which ends with finish()): an exception out of
    it is a failure named name, and exit status 1."""
    try:
        main()
    except Exception as e:  # a crash of the test is a failure, named
        traceback.print_exc()
        result(False, name, "%s: %s" % (type(e).__name__, e))
        sys.exit(1)
