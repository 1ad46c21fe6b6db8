# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the integration tests: start deskvm-vm in a temporary directory, speak
QMP to it over its unix socket, watch its serial log. Standard library only.

Exit statuses of a test: 0 pass, 77 skip, 1 fail (meson's convention).
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def free_port(first, last):
    """A TCP port in first..last that 127.0.0.1 can bind now (e.g. a VNC display), tried in
    random order: tests running in parallel that each took the lowest free port raced for it
    ("Address already in use")."""
    ports = list(range(first, last + 1))
    random.shuffle(ports)
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise TestFailure("no free port in %d-%d" % (first, last))


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def require_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("/dev/kvm is not usable")


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value; fails after timeout seconds. what names
    the awaited thing in the failure message; a callable is asked only then."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            if callable(what):
                what = what()
            raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Qmp:
    """One QMP client connection: greeting, commands, events (docs/qmp.md)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()
        check("QMP" in self.greeting, "no QMP greeting: %r" % self.greeting)

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def recv(self, timeout=10):
        """The next message (reply or event); None when the server closed the socket."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no QMP message within %.0f s" % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise TestFailure("server sent invalid JSON: %r" % line)

    def reply(self, timeout=10):
        """The next reply; events seen before it are kept in self.events."""
        while True:
            msg = self.recv(timeout)
            check(msg is not None, "the server closed the connection before replying")
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def execute(self, name, arguments=None, timeout=10):
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        self.send_raw(json.dumps(req) + "\n")
        return self.reply(timeout)

    def cmd(self, name, arguments=None, timeout=10):
        """Executes a command that must succeed; returns its "return" value."""
        r = self.execute(name, arguments, timeout)
        check("return" in r, "%s failed: %r" % (name, r))
        return r["return"]

    def error(self, name, arguments=None):
        r = self.execute(name, arguments)
        check("error" in r, "%s succeeded, expected an error: %r" % (name, r))
        return r["error"]

    def negotiate(self):
        check(self.cmd("qmp_capabilities") == {}, "qmp_capabilities returned something")

    def event(self, name, timeout=10):
        """Waits for event name (an earlier one counts); returns it and drops those before."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name:
                    del self.events[: i + 1]
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no %s event within %.0f s (got %r)" % (name, timeout, self.events))
            msg = self.recv(left)
            check(msg is not None, "the server closed the connection while waiting for " + name)
            check("event" in msg, "unexpected reply while waiting for %s: %r" % (name, msg))
            self.events.append(msg)

    def status(self):
        return self.cmd("query-status")["status"]


class Engine:
    """A deskvm-vm process with its serial port in a file and optionally a QMP socket."""

    def __init__(self, binary, args, qmp=True, tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="deskvm-it-")
        self.qmp_path = os.path.join(self.tmp, "qmp.sock") if qmp else None
        self.serial_path = os.path.join(self.tmp, "serial.log")
        cmd = [binary] + list(args) + ["--serial", "file:" + self.serial_path]
        if qmp:
            cmd += ["--qmp", "unix:" + self.qmp_path]
        self.cmdline = cmd
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_file)
        if qmp:
            wait_for(lambda: os.path.exists(self.qmp_path) or self.proc.poll() is not None, 10,
                     "the QMP socket")
            check(self.proc.poll() is None,
                  "deskvm-vm exited with %s before its QMP socket appeared: %s"
                  % (self.proc.returncode, self.stderr()))

    def qmp(self):
        c = Qmp(self.qmp_path)
        c.negotiate()
        return c

    def serial(self):
        try:
            with open(self.serial_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def serial_size(self):
        try:
            return os.path.getsize(self.serial_path)
        except FileNotFoundError:
            return 0

    def wait_serial(self, text, timeout=10, count=1):
        return wait_for(lambda: self.serial().count(text) >= count, timeout,
                        lambda: "%r x%d on the serial port (it holds %r)"
                        % (text, count, self.serial()[-300:]))

    def stderr(self):
        self.stderr_file.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("deskvm-vm still running %.0f s later" % timeout)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr_file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class QemuGuest:
    """qemu-system-x86_64 (q35, TCG) booting a guest ELF with extra -device options, its
    serial port in a file under tmp and a QMP socket: the oracle the display tests compare
    with. QemuGuest.start() returns None when QEMU is not installed."""

    @classmethod
    def start(cls, elf, tmp, devices, append):
        qemu = shutil.which("qemu-system-x86_64")
        return cls(qemu, elf, tmp, devices, append) if qemu else None

    def __init__(self, qemu, elf, tmp, devices, append):
        self.qmp_path = os.path.join(tmp, "qemu-qmp.sock")
        self.serial_path = os.path.join(tmp, "qemu-serial.log")
        cmd = [qemu, "-M", "q35", "-accel", "tcg", "-nodefaults", "-no-user-config",
               "-display", "none", "-m", "256", "-serial", "file:" + self.serial_path,
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
               "-kernel", elf, "-append", append]
        for d in devices:
            cmd += ["-device", d]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.qmp_path), 20, "QEMU's QMP socket")
        self.c = Qmp(self.qmp_path)
        self.c.negotiate()

    def serial(self):
        if not os.path.exists(self.serial_path):
            return ""
        with open(self.serial_path, errors="replace") as f:
            return f.read()

    def wait_serial(self, text, timeout, count=1):
        wait_for(lambda: self.serial().count(text) >= count, timeout,
                 lambda: "QEMU: %r x%d on the serial port (it holds %r)"
                 % (text, count, self.serial()[-300:]))

    def cleanup(self):
        self.proc.kill()
        self.proc.wait()


def main(fn):
    """Runs fn(); TestFailure -> FAIL (1), anything else unexpected -> FAIL with traceback."""
    try:
        fn()
    except TestFailure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    print("PASS")
    sys.exit(0)
